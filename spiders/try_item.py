"""``lifeboat try PROFILE ID``: fetch one item through the real crawler and show what the
profile's expressions make of it.

The item is fetched by the same Scrapy crawl, HTTP handler, WARC capture and field
extraction as ``lifeboat crawl`` (into a scratch job directory, or ``--out DIR`` to keep
it), following its redirects and its pages (``next``) but nothing it discovers. Every
expression's result is printed, row by row, then the rows as stored, then each
expression that matched nothing.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, AsyncIterator

import scrapy

from archive.schema import DB_NAME, LedgerState
from spiders.exceptions import BadOption
from spiders.extraction import QUIET_WHEN_EMPTY, matched
from spiders.fields import describe
from spiders.idwalk import IdWalkSpider
from spiders.profile import ItemType, Profile, load_profile, parse_var_options

SHOWN = 160  # characters of a value shown


class TrySpider(IdWalkSpider):
    """Fetches ``item_id`` of ``item`` only; records every page in ``trace``."""

    name = "try"

    def __init__(self, *args: Any, item: ItemType, item_id: str, trace: list, **kwargs: Any):
        super().__init__(*args, walks=[], **kwargs)
        self.item, self.item_id = item, item_id
        self.trace, self.follow_discovered, self.quiet = trace, False, True

    async def start(self) -> AsyncIterator[scrapy.Request]:
        request = self.request_for(self.item, self.item_id)
        if request is not None:
            yield request


def expressions(item: ItemType) -> dict[str, Any]:
    """Every expression of ``item`` by the key ``extraction`` reports it under."""
    out: dict[str, Any] = {}
    for key, condition in (("states.forbidden_if", item.forbidden_if),
                           ("states.missing_if", item.missing_if)):
        if condition is not None:
            out[key] = condition
    if item.rows is not None:
        out["rows"] = item.rows
    out.update({f"fields.{key}": expr for key, expr in item.fields.items()})
    out.update({f"discover.{key}": expr for key, expr in item.discover.items()})
    if item.next is not None:
        out["next"] = item.next
    return out


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + f"... ({len(text)} characters)"


def report(profile: Profile, item: ItemType, item_id: str, trace: list,
           db_path: Path) -> tuple[list[str], bool]:
    """The lines ``lifeboat try`` prints, and whether the item was archived."""
    db = sqlite3.connect(db_path)
    try:
        ledger = db.execute("SELECT state, last_status, reason FROM ledger WHERE item_type = ? "
                            "AND id = ?", (item.name, item_id)).fetchone()
        posts = db.execute("SELECT id, author, created_at, text, deleted FROM posts "
                           "ORDER BY rowid").fetchall()
        media = db.execute("SELECT post_id, media_url FROM post_media ORDER BY rowid").fetchall()
        files = db.execute("SELECT url, sha256, content_type, size FROM media").fetchall()
    finally:
        db.close()
    lines = []
    if ledger is None:
        lines.append(f"{item.name} {item_id}: not fetched ({item.url_for(item_id)} is out of "
                     f"scope or not a valid URL: see logs/skipped.log)")
        return lines, False
    state, status, reason = ledger
    lines.append(f"{item.name} {item_id}: {state} (HTTP {status})"
                 + (f": {reason}" if reason and reason != f"HTTP {status}" else ""))
    tried: dict[str, bool] = defaultdict(bool)
    for _type, _id, url, page in trace:
        lines.append(f"page {url}")
        for row, key, value in page.values:
            tried[key] |= matched(value)
            where = f"  row {row} " if row is not None else "  "
            lines.append(f"{where}{key} = {show(value)}")
        for text in page.unread_times:
            lines.append(f"  fields.created_at: {text!r} is not a time lifeboat reads: "
                         f"stored as given (see Times in spiders/profiles/README.md)")
        for target, value, post_id in page.found:
            credit = f" (credited to post {post_id})" if post_id and \
                profile.items[target].credits_parent else ""
            lines.append(f"  would fetch {target} {value}{credit}")
        if page.next_url:
            lines.append(f"  next page: {page.next_url}")
    if posts:
        lines.append(f"stored: {len(posts)} posts row(s)")
        for post_id, author, created_at, text, deleted in posts:
            lines.append(f"  id={post_id!r} author={author!r} created_at={created_at!r} "
                         f"deleted={deleted} text={show(text)}")
        for post_id, url in media:
            lines.append(f"  post_media {post_id!r} -> {url}")
    for url, sha256, content_type, size in files:
        lines.append(f"stored: media {url} {content_type} {size} bytes sha256 {sha256}")
    if trace:
        unmatched = [(key, expr) for key, expr in expressions(item).items()
                     if key in tried and not tried[key]]
        if unmatched:
            lines.append("matched nothing:")
            for key, expr in unmatched:
                note = " (often normal)" if key in QUIET_WHEN_EMPTY else ""
                lines.append(f"  items.{item.name}.{key} = {describe(expr)}{note}")
        else:
            lines.append("every expression matched something")
    return lines, state in (LedgerState.ARCHIVED, LedgerState.DELETED)


def try_item(profile: str, item_id: str, item_type: str | None, variables: tuple[str, ...],
             job_dir: Path | None) -> tuple[list[str], bool]:
    """The body of ``lifeboat try``: the report's lines, and True when the item was archived."""
    from archive.job import Job
    from spiders.run import crawler_process, warcinfo_fields
    from spiders.settings import crawl_settings

    loaded = load_profile(profile, parse_var_options(variables))
    name = item_type or loaded.walks[0].name
    if name not in loaded.items:
        raise BadOption(f"--item {name}: the profile has no [items.{name}] "
                        f"(item types: {', '.join(loaded.items)})")
    item = loaded.items[name]
    with tempfile.TemporaryDirectory(prefix="lifeboat-try-") as scratch:
        out = Path(job_dir) if job_dir else Path(scratch)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        settings = crawl_settings(loaded, out, None)
        settings["LIFEBOAT_PROGRESS"] = False
        process = crawler_process(settings)
        job = Job(out, loaded.name, 10**9, warcinfo_fields(loaded)).open()
        trace: list = []
        try:
            process.crawl(TrySpider, profile=loaded, job=job, item=item, item_id=item_id,
                          trace=trace)
            process.start()
        finally:
            job.close()
        lines, archived = report(loaded, item, item_id, trace, out / DB_NAME)
    if job_dir:
        lines.append(f"the answer is archived in {job_dir} (WARC, archive.db, logs/)")
    return lines, archived
