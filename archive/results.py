"""What a crawler hands the row store for one item: the store's input contract.

The spider (``spiders.idwalk``) builds one ``Result`` per answered item and gives it to
``archive.store.JobStore.add_result``; the store turns it into rows of ``posts``,
``media``, ``post_media``, ``post_children``, ``child_media`` and ``ledger`` (columns in
DESIGN.md). Nothing here knows a crawler. The row records are frozen; a ``Result`` is
filled in while the spider works out the item's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class Capture:
    """What the archive tells the crawler of one exchange it archived (its ``captures`` row
    is the archive's own until committed): the id a ``Result`` claims, and the facts of
    the answer that the item's rows repeat."""

    id: int
    status: int | None
    content_type: str | None
    payload_sha256: str | None
    payload_size: int | None
    warc_type: str  # response | revisit


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The state an item ended in (a ``ledger`` row)."""

    item_type: str
    id: str
    state: str  # an archive.schema.LedgerState (a str)
    attempts: int
    last_status: int | None
    updated_at: str  # ISO 8601 UTC
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """A ``posts`` row; ``url`` and ``capture_id`` name the answer it was read from."""

    id: str
    profile: str
    author: Any
    created_at: Any
    text: Any
    deleted: int
    raw: str | None
    url: str | None = None
    capture_id: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """A ``media`` row: a media URL as a post gave it and the payload it led to (None for
    a URL that redirected to one archived under its own row: copied from that row)."""

    url: str
    sha256: str | None
    content_type: str | None
    size: int | None
    capture_id: int | None
    final_url: str | None = None


class PostMedia(NamedTuple):
    """A ``post_media`` row: a post links to a media URL."""

    post_id: str
    media_url: str


class PostChild(NamedTuple):
    """A ``post_children`` row: a post found a child item whose media it is credited with."""

    post_id: str
    item_type: str
    item_id: str


class ChildMedia(NamedTuple):
    """A ``child_media`` row: a media URL of a child item (credited to its parent posts)."""

    item_type: str
    item_id: str
    media_url: str


class Queued(NamedTuple):
    """An item discovered and requested, ``queued`` in the ledger until it is answered."""

    item_type: str
    id: str
    when: str  # ISO 8601 UTC


@dataclass(slots=True)
class Result:
    """Everything one answered item gives the store, committed together.

    ``captures``: ids of the held ``captures`` rows of the item's exchanges (redirect hops
    and the last answer, ``JobStore.add_capture(held=True)``), committed with it.
    ``ledger_more``: other items settled by this answer (the URL a redirect reached).
    """

    ledger: LedgerEntry | None = None
    captures: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    post_media: list[PostMedia] = field(default_factory=list)
    post_children: list[PostChild] = field(default_factory=list)
    child_media: list[ChildMedia] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)
    ledger_more: list[LedgerEntry] = field(default_factory=list)
