"""CSS / XPath selector fields: profiles for platforms that serve HTML (or HTML inside JSON).

Plugged into :mod:`spiders.fields` as the ``html`` parser, and as the table form of a
``json`` field. A field is either a string or a selector table:

- ``parse = "html"``: a string is a CSS selector (parsel syntax, ``::text`` and
  ``::attr(name)`` included); a table has exactly one of ``css`` / ``xpath``.
- ``parse = "json"``: a string stays a JMESPath expression; a table with ``jmespath``
  plus ``css`` or ``xpath`` picks HTML strings out of the JSON first (``cooked``,
  ``content.rendered``) and runs the selector over them.
- either table may add ``regex`` (keep group 1 of each match, or the whole match),
  ``join`` (a separator: the matches become one string, for text fields) and
  ``visible_text = true`` (each matched element becomes the text a reader sees, by
  html-text: no ``<style>`` / ``<script>``, no space before punctuation after an inline
  tag, blank lines between paragraphs).
- any field may be a list of the above: the results are concatenated (e.g. a featured
  image by JMESPath plus the images inside the body by CSS).

A selector's result is like a JMESPath projection: None when nothing matches, the string
when one thing does, the list otherwise. Everything is checked at profile load, so a
bad selector is an error naming its key before any request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import html_text
from parsel import Selector
from parsel.utils import extract_regex
from w3lib.encoding import html_to_unicode

TABLE_KEYS = ("css", "xpath", "jmespath", "regex", "replace", "join", "visible_text")
_EMPTY = Selector(text="<html><body></body></html>")


@dataclass(frozen=True)
class FieldList:
    """Several compiled expressions whose results are concatenated."""

    parts: tuple[Any, ...]


@dataclass(frozen=True)
class SelectorField:
    """A compiled selector table."""

    css: str | None = None
    xpath: str | None = None
    jmespath: Any = None
    regex: re.Pattern | None = None
    join: str | None = None
    visible_text: bool = False
    replace: tuple[re.Pattern, str] | None = None

    def select(self, selector: Selector) -> list[str]:
        """Every match in one document, as stripped non-empty strings."""
        found = selector.css(self.css) if self.css else selector.xpath(self.xpath)
        if self.visible_text:
            values = [visible_text(match) for match in found]
            if self.regex:
                values = [v for text in values for v in extract_regex(self.regex, text)]
        else:
            values = found.re(self.regex) if self.regex else found.getall()
        return self.rewrite([v.strip() for v in values if v and v.strip()])

    def strings(self, values: list[Any]) -> list[str]:
        """A JSON table without css / xpath: ``regex`` and ``replace`` over the strings
        the JMESPath expression gave."""
        texts = [v.strip() for v in values if isinstance(v, str) and v.strip()]
        if self.regex is not None:
            texts = [m.group(1) if self.regex.groups else m.group(0)
                     for text in texts for m in self.regex.finditer(text)]
        return self.rewrite(texts)

    def rewrite(self, values: list[str]) -> list[str]:
        """``replace`` applied to each value (e.g. a resized copy's URL -> the original's)."""
        if self.replace is None:
            return values
        pattern, replacement = self.replace
        return [pattern.sub(replacement, value) for value in values]

    def finish(self, values: list[str]) -> Any:
        """None, one string, a joined string or the list, like a JMESPath projection."""
        if self.join is not None:
            return self.join.join(values) or None
        if not values:
            return None
        return values[0] if len(values) == 1 else values


def compile_html(expression: str | dict | list) -> Any:
    """A ``parse = "html"`` field: a CSS string or a css/xpath table (or a list of them)."""
    if isinstance(expression, list):
        return _compile_list(compile_html, expression)
    if isinstance(expression, str):
        return _checked(SelectorField(css=expression))
    return compile_table(expression, None)


def compile_json(expression: str | dict | list,
                 compile_jmespath: Callable[[str], Any]) -> Any:
    """A ``parse = "json"`` field: a JMESPath string, or a jmespath + css/xpath table."""
    if isinstance(expression, list):
        return _compile_list(partial(compile_json, compile_jmespath=compile_jmespath),
                             expression)
    if isinstance(expression, str):
        return compile_jmespath(expression)
    field = compile_table(expression, compile_jmespath)
    if field.jmespath is None:
        raise ValueError("a selector table on a JSON item needs jmespath = \"...\" naming "
                         "the HTML string to search, e.g. jmespath = \"content.rendered\"")
    return field


def compile_table(table: dict, compile_jmespath: Callable[[str], Any] | None) -> SelectorField:
    """Validate a selector table's keys and expressions."""
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise ValueError(f"unknown selector key {unknown[0]!r}; use {', '.join(TABLE_KEYS)}")
    for key, value in table.items():
        if key == "visible_text":
            if not isinstance(value, bool):
                raise ValueError("visible_text must be true or false")
        elif key == "replace":
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, str) for v in value) and value[0]):
                raise ValueError("replace is [\"regular expression\", \"replacement\"], e.g. "
                                 "[\"/scaled_full_\", \"/\"]")
        elif not isinstance(value, str) or (key != "join" and not value.strip()):
            raise ValueError(f"{key} must be a non-empty string")
    strings_only = compile_jmespath is not None and "jmespath" in table and \
        "css" not in table and "xpath" not in table and not table.get("visible_text")
    if ("css" in table) == ("xpath" in table) and not strings_only:
        raise ValueError("give exactly one of css = \"...\" or xpath = \"...\"")
    try:
        regex = re.compile(table["regex"]) if "regex" in table else None
    except re.error as exc:
        raise ValueError(f"bad regex {table['regex']!r}: {exc}") from None
    replace = None
    if "replace" in table:
        try:
            replace = (re.compile(table["replace"][0]), table["replace"][1])
            replace[0].sub(replace[1], "")  # a bad group reference fails here
        except (re.error, IndexError) as exc:
            raise ValueError(f"bad replace {table['replace']!r}: {exc}") from None
    if "jmespath" in table and compile_jmespath is None:
        raise ValueError("jmespath is for parse = \"json\" items; an HTML page has no JSON")
    jmes = compile_jmespath(table["jmespath"]) if "jmespath" in table else None
    field = SelectorField(css=table.get("css"), xpath=table.get("xpath"), jmespath=jmes,
                          regex=regex, join=table.get("join"),
                          visible_text=table.get("visible_text", False), replace=replace)
    return field if strings_only else _checked(field)


def visible_text(match: Selector) -> str:
    """What a reader sees of a matched element (html-text); a text or attribute as it is."""
    if isinstance(match.root, str):
        return match.root
    return html_text.etree_to_text(html_text.cleaner.clean_html(match.root))


def compile_rows(expression: str | dict, parse: str,
                 compile_jmespath: Callable[[str], Any]) -> Any:
    """An item's ``rows``: a JMESPath string giving a list (JSON), or a CSS string or a
    ``css`` / ``xpath`` table giving elements (HTML)."""
    if parse == "json":
        if not isinstance(expression, str):
            raise ValueError("on a JSON item, rows is a JMESPath expression giving a list, "
                             "e.g. rows = \"post_stream.posts\"")
        return compile_jmespath(expression)
    if isinstance(expression, str):
        expression = {"css": expression}
    if not isinstance(expression, dict) or set(expression) - {"css", "xpath"}:
        raise ValueError("on an HTML item, rows is a CSS selector or a table with css or xpath "
                         "only, e.g. rows = \"article.post\"")
    return compile_table(expression, None)


def row_elements(field: SelectorField, document: Selector) -> list[Selector]:
    """The elements an HTML ``rows`` selector picks: each is the document of one row."""
    return list(document.css(field.css) if field.css else document.xpath(field.xpath))


def load_html(body: bytes) -> Selector:
    """Bytes -> a parsel Selector (encoding from the meta tag or BOM, else UTF-8)."""
    _, text = html_to_unicode(None, body)
    return Selector(text=text)


def search_html(field: Any, document: Selector) -> Any:
    """Apply a compiled HTML field to a loaded page."""
    if isinstance(field, FieldList):
        return _concatenate(search_html(part, document) for part in field.parts)
    return field.finish(field.select(document))


def search_json(compiled: Any, document: Any, search_jmespath: Callable[[Any, Any], Any]) -> Any:
    """Apply a compiled JSON field: JMESPath, or JMESPath then a selector over the HTML."""
    if isinstance(compiled, FieldList):
        return _concatenate(search_json(part, document, search_jmespath)
                            for part in compiled.parts)
    if not isinstance(compiled, SelectorField):
        return search_jmespath(compiled, document)
    found = search_jmespath(compiled.jmespath, document)
    fragments = found if isinstance(found, list) else [found]
    if compiled.css is None and compiled.xpath is None:
        return compiled.finish(compiled.strings(fragments))
    values: list[str] = []
    for fragment in fragments:
        if isinstance(fragment, str) and fragment.strip():
            values += compiled.select(Selector(text=fragment))
    return compiled.finish(values)


def _compile_list(compile_one: Any, expressions: list) -> FieldList:
    if not expressions:
        raise ValueError("an empty list: give one expression or more")
    parts = []
    for index, expression in enumerate(expressions):
        if isinstance(expression, list):
            raise ValueError(f"[{index}]: lists do not nest")
        try:
            parts.append(compile_one(expression))
        except ValueError as exc:
            raise ValueError(f"[{index}]: {exc}") from None
    return FieldList(tuple(parts))


def _concatenate(results: Any) -> list:
    out: list = []
    for result in results:
        if isinstance(result, list):
            out += result
        elif result is not None:
            out.append(result)
    return out


def _checked(field: SelectorField) -> SelectorField:
    """Run the selector once on an empty page so that a syntax error surfaces at load."""
    try:
        field.select(_EMPTY)
    except Exception as exc:  # parsel raises ValueError, cssselect SelectorError (a SyntaxError)
        kind, text = ("CSS", field.css) if field.css else ("XPath", field.xpath)
        raise ValueError(f"bad {kind} selector {text!r}: {exc}") from None
    return field
