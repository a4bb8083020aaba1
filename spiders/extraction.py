"""What one parsed page of an item gives: posts rows, media links, discovered items and
the next page, from the item type's expressions. Pure functions: the spider stores the
result, ``lifeboat try`` prints it.

- ``fields`` fill one ``posts`` row per page, or with ``rows`` one per list element (each
  element is the document its fields and ``discover`` run over; the posts ID comes from
  ``fields.id``).
- ``discover`` finds other items; each is credited to the post that found it (the page's
  post, or the row's), so that a child item's ``fields.media`` (on an item type without
  ``table = "posts"``) become that post's media.
- ``next`` gives the URL of the item's next page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urljoin

from archive.results import Post, PostMedia
from archive.schema import LedgerState
from spiders.fields import PARSERS, as_list, row_documents
from spiders.times import normalise_time

if TYPE_CHECKING:
    from spiders.profile import ItemType, Profile

# expressions whose "nothing" is normal, never reported as matching nothing by a crawl
QUIET_WHEN_EMPTY = ("fields.deleted", "next", "next_link", "states.missing_if",
                    "states.forbidden_if")


@dataclass
class Page:
    """The result of one page of one item."""

    state: LedgerState = LedgerState.ARCHIVED  # or DELETED, MISSING, FORBIDDEN
    posts: list[Post] = field(default_factory=list)
    post_media: list[PostMedia] = field(default_factory=list)
    found: list[tuple[str, str, str | None]] = field(default_factory=list)  # (type, id, post)
    child_media: list[str] = field(default_factory=list)  # credited to the parent posts
    next_url: str | None = None
    # (row number or None, expression key, result) in evaluation order
    values: list[tuple[int | None, str, Any]] = field(default_factory=list)
    unread_times: list[str] = field(default_factory=list)


def matched(value: Any) -> bool:
    """Whether an expression's result is something (not null, "" or an empty list)."""
    return value is not None and value != "" and value != []


def join_url(base: str, link: str) -> str:
    """``link`` resolved against ``base``; a link too broken to resolve (``http://[::1``)
    is returned as it is, to be refused with a reason where it would be fetched."""
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def truthy(value: Any) -> bool:
    """A flag as platforms write it: true, 1, "true", "yes" are set; false, 0, "0", "false",
    "no", "", null and empty lists are not."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "null", "none")
    return bool(value)


def scalar(value: Any) -> Any:
    """A value fit for a TEXT column: lists and objects are joined / dumped."""
    if isinstance(value, list):
        return ", ".join(as_list(value)) or None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    return value


def extract_page(profile: Profile, item: ItemType, item_id: str, document: Any,
                 page_url: str, base_url: Callable[[], str], page_text: Callable[[], str],
                 first_page: bool = True, links: Callable[[], list[str]] = list,
                 capture_id: int | None = None) -> Page:
    """Everything ``item``'s expressions give on one parsed page (``document``) fetched
    from ``page_url`` (archived as capture ``capture_id``: both go into its posts rows);
    ``base_url()`` is what media links are relative to (a page's ``<base href>``),
    ``page_text()`` the page as text (``posts.raw``) and ``links()`` the answer's ``Link``
    header values (``next_link``)."""
    parser = PARSERS[item.parse]
    page = Page()
    answer = (page_url, capture_id)

    def search(key: str, expression: Any, doc: Any, row: int | None = None) -> Any:
        value = parser.search(expression, doc)
        page.values.append((row, key, value))
        return value

    if first_page:
        for key, condition, state in (
                ("states.forbidden_if", item.forbidden_if, LedgerState.FORBIDDEN),
                ("states.missing_if", item.missing_if, LedgerState.MISSING)):
            if condition is not None and truthy(search(key, condition, document)):
                page.state = state
                return page
    if item.rows is not None:
        elements = row_documents(item.rows, item.parse, document)
        page.values.append((None, "rows", len(elements) or None))
        for number, element in enumerate(elements):
            raw = element.get() if item.parse == "html" else json.dumps(element,
                                                                        ensure_ascii=False)
            post_id = _post(profile, item, item_id, element, number, raw, page, search,
                            base_url, answer)
            _discover(profile, item, element, base_url, post_id, page, search, number)
    else:
        post_id = None
        if item.table == "posts":
            post_id = _post(profile, item, item_id, document, None, None, page, search,
                            base_url, answer, page_text)
            if page.posts[0].deleted:
                page.state = LedgerState.DELETED
        elif item.credits_parent:
            media = as_list(search("fields.media", item.fields["media"], document))
            base = base_url() if media else ""
            page.child_media = list(dict.fromkeys(join_url(base, u) for u in media))
        _discover(profile, item, document, base_url, post_id, page, search, None)
    if item.next is not None:
        found = as_list(search("next", item.next, document))
        page.next_url = join_url(base_url(), found[0]) if found else None
    elif item.next_link is not None:
        target = link_target(links(), item.next_link)
        page.values.append((None, "next_link", target))
        page.next_url = join_url(page_url, target) if target else None
    return page


_LINK = re.compile(r"""<([^>]*)>((?:\s*;\s*(?:[^;,"]|"[^"]*")*)*)""")
_REL = re.compile(r"""(?i)\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")


def link_target(values: list[str], rel: str) -> str | None:
    """The first URL of a ``Link`` header (RFC 8288: ``<URL>; rel="next", ...``) whose rel
    (one of a space-separated list, any case) is ``rel``; None if there is none."""
    for value in values:
        for match in _LINK.finditer(value):
            for rel_match in _REL.finditer(match.group(2)):
                rels = (rel_match.group(1) or rel_match.group(2) or "").lower().split()
                if rel.lower() in rels:
                    return match.group(1).strip()
    return None


def _post(profile: Profile, item: ItemType, item_id: str, document: Any, row: int | None,
          raw: str | None, page: Page, search: Callable[..., Any],
          base_url: Callable[[], str], answer: tuple[str, int | None],
          page_text: Callable[[], str] | None = None) -> str:
    """Append the posts row (and its post_media rows) ``document`` gives; return its ID.
    ``answer``: the URL and capture id of the page, for the posts row."""
    values = {key: search(f"fields.{key}", expr, document, row)
              for key, expr in item.fields.items()}
    post_id = str(scalar(values.get("id")) or item_id)
    deleted = truthy(values.get("deleted"))
    created_at, parsed = normalise_time(values.get("created_at"), item.timezone)
    if not parsed:
        page.unread_times.append(created_at)
    page.posts.append(Post(
        id=post_id, profile=profile.name, author=scalar(values.get("author")),
        created_at=created_at, text=scalar(values.get("text")), deleted=int(deleted),
        raw=raw if raw is not None else page_text() if page_text else None,
        url=answer[0], capture_id=answer[1]))
    media = as_list(values.get("media"))
    if media:
        base = base_url()
        page.post_media += [PostMedia(post_id, url)
                            for url in dict.fromkeys(join_url(base, u) for u in media)]
    return post_id


def _discover(profile: Profile, item: ItemType, document: Any, base_url: Callable[[], str],
              post_id: str | None, page: Page, search: Callable[..., Any],
              row: int | None) -> None:
    """Append (item type, ID, crediting post) for everything ``discover`` yields; a link
    into a ``url = "{id}"`` item type is resolved like the post's media links, so that
    the media item's ID is the exact ``post_media.media_url`` string."""
    for target, expression in item.discover.items():
        values = as_list(search(f"discover.{target}", expression, document, row))
        if values and profile.items[target].url == "{id}":  # links in a page: resolve them
            base = base_url()
            values = [join_url(base, value) for value in values]
        page.found.extend((target, value, post_id) for value in values)
