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

from spiders import html_fields


@dataclass(frozen=True)
class Parser:
    """How one body format is read and queried."""

    compile: Callable[[str], Any]
    load: Callable[[bytes], Any]
    search: Callable[[Any, Any], Any]


def _compile_jmespath(expression: str) -> Any:
    try:
        return jmespath.compile(expression)
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


def _search_jmespath(compiled: Any, document: Any) -> Any:
    node = compiled.parsed
    if node["type"] == "field":  # a bare name (most fields): JMESPath's answer, no visitor
        return document.get(node["value"]) if isinstance(document, dict) else None
    return compiled.search(document)


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
