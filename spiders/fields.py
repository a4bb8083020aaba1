"""Field extraction: how a profile's expressions are compiled and applied to a body.

One small registry keyed by the item type's ``parse`` value. Each parser has three plain
functions: ``compile`` (validates an expression at profile load, raising ``ValueError``
with a readable message), ``load`` (bytes -> document, raising ``ValueError`` when the
body is malformed) and ``search`` (compiled expression, document -> value). Adding HTML
with CSS/XPath selectors later means adding one ``Parser`` entry here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from spiders import html_fields


@dataclass(frozen=True)
class Parser:
    """How one body format is read and queried."""

    compile: Callable[[str], Any]
    load: Callable[[bytes], Any]
    search: Callable[[Any, Any], Any]


class Expression(ParsedResult):
    """A compiled JMESPath expression. ``fast`` evaluates the shapes profiles mostly use
    (``name``, ``a.b.c``, ``a[].b``, ``[].id``, ``a[*].b``) in plain Python, with JMESPath's
    answers: its visitor cost more per search than parsing the JSON."""

    def __init__(self, parsed: ParsedResult):
        super().__init__(parsed.expression, parsed.parsed)
        self.fast = _fast_path(parsed.parsed)


def _fast_path(node: dict[str, Any]) -> Callable[[Any], Any] | None:
    """A function doing what JMESPath's TreeInterpreter does with ``node``, or None when the
    node (or one below it) is of another type."""
    kind, children = node["type"], node.get("children", [])
    if kind == "field":
        key = node["value"]
        return lambda value: value.get(key) if isinstance(value, dict) else None
    if kind in ("identity", "current"):
        return lambda value: value
    steps = [_fast_path(child) for child in children]
    if not steps or any(step is None for step in steps):
        return None
    if kind == "subexpression":
        def chain(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value
        return chain
    if kind == "flatten":
        inner = steps[0]

        def flatten(value: Any) -> Any:
            base = inner(value)
            if not isinstance(base, list):
                return None
            merged: list[Any] = []
            for element in base:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged
        return flatten
    if kind == "projection":
        left, right = steps

        def project(value: Any) -> Any:
            base = left(value)
            if not isinstance(base, list):
                return None
            return [current for current in map(right, base) if current is not None]
        return project
    return None


def _compile_jmespath(expression: str) -> Expression:
    try:
        return Expression(jmespath.compile(expression))
    except JMESPathError as exc:
        raise ValueError(f"bad JMESPath expression {expression!r}: {exc}") from None


# a \uD800-\uDFFF escape: JSON may spell a lone surrogate, which SQLite and UTF-8 refuse
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _load_json(body: bytes) -> Any:
    try:
        document = json.loads(body)
        if _SURROGATE_ESCAPE.search(body):
            document = _without_lone_surrogates(document)
    except ValueError as exc:  # also bad UTF-8, and integers over 4300 digits
        raise ValueError(f"malformed JSON: {exc}") from None
    except RecursionError:  # e.g. [[[[...]]]] a hundred thousand deep
        raise ValueError("malformed JSON: nested too deeply to parse") from None
    return document


def _without_lone_surrogates(value: Any) -> Any:
    """The document with every lone surrogate replaced by U+FFFD (the raw body keeps it)."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _search_jmespath(compiled: Expression, document: Any) -> Any:
    fast = compiled.fast  # every JMESPath expression is compiled by _compile_jmespath
    return fast(document) if fast is not None else compiled.search(document)


def _no_expressions(expression: str) -> Any:
    raise ValueError("this item type has parse = \"none\": it cannot have expressions")


PARSERS: dict[str, Parser] = {
    # JMESPath strings, plus selector tables over HTML inside the JSON (spiders.html_fields)
    "json": Parser(partial(html_fields.compile_json, compile_jmespath=_compile_jmespath),
                   _load_json,
                   partial(html_fields.search_json, search_jmespath=_search_jmespath)),
    "html": Parser(html_fields.compile_html, html_fields.load_html, html_fields.search_html),
    "none": Parser(_no_expressions, lambda body: None, lambda compiled, doc: None),
}


def compile_rows(expression: Any, parse: str) -> Any:
    """An item's ``rows`` expression for its ``parse`` (see html_fields.compile_rows)."""
    if parse == "none":
        return _no_expressions(expression)
    return html_fields.compile_rows(expression, parse, _compile_jmespath)


def row_documents(compiled: Any, parse: str, document: Any) -> list[Any]:
    """The documents of an item's rows: the JSON list's objects, or the HTML elements."""
    if parse == "html":
        return html_fields.row_elements(compiled, document)
    found = _search_jmespath(compiled, document)
    if found is None:
        return []
    return [element for element in (found if isinstance(found, list) else [found])
            if element is not None]


def describe(compiled: Any) -> str:
    """A compiled expression as the profile wrote it (for messages)."""
    if isinstance(compiled, html_fields.FieldList):
        return " + ".join(describe(part) for part in compiled.parts)
    if isinstance(compiled, html_fields.SelectorField):
        parts = [f"jmespath {compiled.jmespath.expression!r}"] if compiled.jmespath else []
        parts.append(f"css {compiled.css!r}" if compiled.css else f"xpath {compiled.xpath!r}")
        if compiled.regex is not None:
            parts.append(f"regex {compiled.regex.pattern!r}")
        return ", ".join(parts)
    expression = getattr(compiled, "expression", None)
    return repr(expression) if expression is not None else repr(compiled)


def as_list(value: Any) -> list[str]:
    """Normalise an expression result to a list of non-empty strings (for IDs and URLs)."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if isinstance(item, (list, dict)) or item is None or item == "":
            continue
        out.append(item if isinstance(item, str) else json.dumps(item))
    return out
