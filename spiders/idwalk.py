"""The one generic spider: walks a profile's ID ranges and follows discovered items.

IDs are produced lazily, 500 at a time, and only while Scrapy's downloader has room, so
a range of ten million IDs is never held in memory. IDs already finished in the ledger
are skipped; ``queued`` and ``failed`` ones from an earlier run are fetched first.
Each response becomes one result dict for ``archive.capture.RowsPipeline``:
``{"ledger": {...}, "captures": [capture ids it claims], "post": {...}, "media": {...},
"post_media": [...], "queued": [(item type, id, when), ...]}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from twisted.internet.defer import CancelledError

from archive.job import utc_now
from archive.ledger import discovered_keys, known_ids, resumable
from spiders.fields import PARSERS, as_list

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from archive.job import Job
    from spiders.profile import IdRange, ItemType, Profile

DISCOVERED_PRIORITY = 10
MAX_REDIRECTS = 5
CHUNK = 500


def _scalar(value: Any) -> Any:
    """A value fit for a TEXT column: lists and objects are joined / dumped."""
    if isinstance(value, list):
        return ", ".join(as_list(value)) or None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    return value


def truthy(value: Any) -> bool:
    """A flag as platforms write it: true, 1, "true", "yes" are set; false, 0, "0", "false",
    "no", "", null and empty lists are not."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "null", "none")
    return bool(value)


def _chunks(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(ids, size)):
        yield chunk


class IdWalkSpider(scrapy.Spider):
    """Walks ``walks`` ([(item type, ID range)]) of ``profile`` into ``job``."""

    name = "idwalk"

    def __init__(self, profile: Profile, job: Job, walks: list[tuple[ItemType, IdRange]],
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.profile, self.job, self.walks = profile, job, walks
        self.seen: set[tuple[str, str]] = set()
        self._room = asyncio.Event()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> IdWalkSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._room.set, signal=signals.request_left_downloader)
        return spider

    async def _wait_for_room(self) -> None:
        engine = self.crawler.engine
        while engine.needs_backout():
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    async def start(self) -> AsyncIterator[scrapy.Request]:
        db, profile = self.job.db, self.profile.name
        targets = {t for item in self.profile.items.values() for t in item.discover}
        self.seen = discovered_keys(db, profile, targets)
        for item_type, item_id, _state in list(resumable(db, profile)):
            item = self.profile.items.get(item_type)
            if item is None:
                continue
            self.seen.add((item_type, item_id))
            request = self.request_for(item, item_id, DISCOVERED_PRIORITY if item.ids is None else 0)
            if request is not None:
                await self._wait_for_room()
                yield request
        for item, id_range in self.walks:
            for chunk in _chunks(iter(id_range), CHUNK):
                done = known_ids(db, profile, item.name, chunk)
                for item_id in chunk:
                    if item_id in done or (item.name, item_id) in self.seen:
                        continue
                    request = self.request_for(item, item_id)
                    if request is not None:
                        await self._wait_for_room()
                        yield request

    def request_for(self, item: ItemType, item_id: str, priority: int = 0,
                    found_in: str = "", url: str | None = None,
                    extra_meta: dict | None = None) -> scrapy.Request | None:
        """The request for one item, or None (logged to skipped.log) when out of scope or
        longer than Scrapy's URLLENGTH_LIMIT."""
        url = url or item.url_for(item_id)
        reason = self.profile.scope_reason(url)
        max_url = self.settings.getint("URLLENGTH_LIMIT")
        if not reason and max_url and len(url) > max_url:  # Scrapy would drop it silently
            reason = f"URL longer than {max_url} characters"
        if reason:
            self.job.log_skipped(url, reason, found_in)
            return None
        limit = self.profile.politeness["max_json_size" if item.parse != "none" else "max_media_size"]
        meta = {"lifeboat_item": (item.name, item_id), "download_slot": urlsplit(url).netloc,
                "download_maxsize": limit, "handle_httpstatus_all": True, "dont_redirect": True,
                **(extra_meta or {})}
        return scrapy.Request(url, callback=self.parse_item, errback=self.on_error, meta=meta,
                              priority=priority, dont_filter=True)

    # ------------------------------------------------------------------ responses

    def parse_item(self, response: Response) -> Iterator[Any]:
        item_type, item_id = response.meta["lifeboat_item"]
        item = self.profile.items[item_type]
        attempts = response.meta.get("lifeboat_attempts", 0) + response.meta.get("retry_times", 0) + 1
        capture = response.meta.get("lifeboat_capture") or {}
        status = response.status
        captures = [*response.meta.get("lifeboat_prior_captures", ()),
                    *([capture["id"]] if capture else [])]
        result: dict[str, Any] = {"captures": captures}

        def finish(state: str, reason: str | None = None) -> dict[str, Any]:
            result["ledger"] = {"item_type": item_type, "id": item_id, "state": state,
                                "attempts": attempts, "last_status": status,
                                "updated_at": utc_now(), "reason": reason}
            return result

        if 300 <= status < 400 and response.headers.get("Location"):
            yield from self._redirect(response, item, item_id, attempts, captures, finish)
            return
        if status in item.forbidden_status:
            yield finish("forbidden", f"HTTP {status}")
            return
        if status in item.missing_status:
            yield finish("missing", f"HTTP {status}")
            return
        if status >= 300 or status < 200:
            again = f" after {attempts} attempts" if attempts > 1 else ""
            yield finish("failed", f"HTTP {status}{again}")
            return

        parser = PARSERS[item.parse]
        try:
            document = parser.load(response.body)
        except ValueError as exc:
            yield finish("failed", str(exc)[:300])
            return
        try:
            state = self._state_and_rows(item, item_id, document, response, capture, result)
            public = state in ("archived", "deleted")
            found = self._found(item, document, response.url) if public else []
        except Exception as exc:  # an expression that breaks on this answer: say which
            for key in ("post", "post_media", "media"):
                result.pop(key, None)
            yield finish("failed", f"profile expression failed on this answer: "
                                   f"{exc.__class__.__name__}: {exc}"[:300])
            return
        requests = list(self._follow(found, response.url, result))
        yield finish(state, None if public else f"states.{state}_if matched")
        yield from requests

    def _state_and_rows(self, item: ItemType, item_id: str, document: Any, response: Response,
                        capture: dict[str, Any], result: dict[str, Any]) -> str:
        """The item's state from a parsed 2xx answer; fills the result's table rows."""
        parser = PARSERS[item.parse]
        if item.forbidden_if is not None and truthy(parser.search(item.forbidden_if, document)):
            return "forbidden"
        if item.missing_if is not None and truthy(parser.search(item.missing_if, document)):
            return "missing"
        state = "archived"
        if item.table == "posts":
            values = {key: parser.search(expr, document) for key, expr in item.fields.items()}
            post_id = str(_scalar(values.get("id")) or item_id)
            deleted = truthy(values.get("deleted"))
            state = "deleted" if deleted else "archived"
            result["post"] = {
                "id": post_id, "profile": self.profile.name, "url": response.url,
                "author": _scalar(values.get("author")),
                "created_at": _scalar(values.get("created_at")),
                "text": _scalar(values.get("text")), "deleted": int(deleted),
                "raw": response.text, "capture_id": capture.get("id"),
            }
            result["post_media"] = [{"post_id": post_id, "media_url": url} for url in dict.fromkeys(
                response.urljoin(u) for u in as_list(values.get("media")))]
        elif item.table == "media":
            result["media"] = {"url": response.url, "sha256": capture.get("payload_sha256"),
                               "content_type": capture.get("content_type"),
                               "size": capture.get("payload_size"),
                               "capture_id": capture.get("id")}
        return state

    def _found(self, item: ItemType, document: Any, found_in: str) -> list[tuple[str, str]]:
        """(item type, ID) of everything the item's ``discover`` expressions yield."""
        parser = PARSERS[item.parse]
        found = []
        for target, expression in item.discover.items():
            for value in as_list(parser.search(expression, document)):
                if self.profile.items[target].url == "{id}":  # a link in a page: resolve it there
                    value = urljoin(found_in, value)
                found.append((target, value))
        return found

    def _follow(self, found: list[tuple[str, str]], found_in: str,
                result: dict[str, Any]) -> Iterator[scrapy.Request]:
        """Requests for discovered items not seen before; each is queued in the ledger."""
        queued = result.setdefault("queued", [])
        for target, value in found:
            key = (target, value)
            if key in self.seen:
                continue
            self.seen.add(key)
            request = self.request_for(self.profile.items[target], value, DISCOVERED_PRIORITY,
                                       found_in)
            if request is not None:
                queued.append((target, value, utc_now()))
                yield request

    def _redirect(self, response: Response, item: ItemType, item_id: str, attempts: int,
                  captures: list[int], finish) -> Iterator[Any]:
        target = response.urljoin(response.headers["Location"].decode("latin-1"))
        hops = response.meta.get("lifeboat_redirects", 0) + 1
        if item.login_url is not None and item.login_url.search(target):
            yield finish("forbidden", f"redirected to login page {target}")
            return
        if hops > MAX_REDIRECTS:
            yield finish("failed", f"more than {MAX_REDIRECTS} redirects")
            return
        reason = self.profile.scope_reason(target)
        if reason:
            self.job.log_skipped(target, reason, response.url)
            yield finish("failed", f"redirected out of scope to {target}")
            return
        yield self.request_for(item, item_id, response.request.priority, url=target,
                               extra_meta={"lifeboat_redirects": hops,
                                           "lifeboat_attempts": attempts,
                                           "lifeboat_prior_captures": captures})

    def on_error(self, failure: Failure) -> Iterator[dict[str, Any]]:
        request = failure.request
        item_type, item_id = request.meta["lifeboat_item"]
        exc = failure.value
        text = f"{exc.__class__.__name__}: {exc}"
        state, status = "failed", None
        if isinstance(exc, IgnoreRequest) and "robots.txt" in str(exc):
            state, text = "forbidden", "disallowed by robots.txt"
            self.job.log_skipped(request.url, text)
        elif isinstance(exc, (DownloadCancelledError, CancelledError)) or "max size" in str(exc):
            text = f"oversize: larger than {request.meta.get('download_maxsize')} bytes"
            self.job.log_skipped(request.url, text)
        attempts = request.meta.get("lifeboat_attempts", 0) + request.meta.get("retry_times", 0) + 1
        yield {"captures": request.meta.get("lifeboat_prior_captures", []),
               "ledger": {"item_type": item_type, "id": item_id, "state": state,
                          "attempts": attempts, "last_status": status,
                          "updated_at": utc_now(), "reason": text[:300]}}
