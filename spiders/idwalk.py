"""The one generic spider: walks a profile's ID ranges and follows discovered items.

IDs are produced lazily, 500 at a time, and only while Scrapy's downloader has room, so
a range of ten million IDs is never held in memory. IDs already finished in the ledger
are skipped; ``queued`` and ``failed`` ones from an earlier run are fetched first.
Each response becomes one ``archive.results.Result`` (the item's ledger entry, the
captures it claims, its posts, media and links, the items it queued), handed straight to
the job's row store (``archive.store.JobStore.add_result``).
Results are not yielded as Scrapy items: the item path (scraper, pipeline,
``item_scraped`` signal) cost CPU on every answer (bench/README.md, section 1); only
requests go back to Scrapy.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, Protocol
from collections import Counter
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, ResponseDataLossError
from tqdm import tqdm
from twisted.internet.defer import CancelledError
from w3lib.url import safe_url_string

from archive.job import utc_now
from archive.ledger import discovered_keys, known_ids, resumable
from archive.results import (Capture, ChildMedia, LedgerEntry, Media, Post, PostChild, Queued,
                             Result)
from archive.schema import LedgerState
from spiders.extraction import QUIET_WHEN_EMPTY, Page, extract_page, join_url, matched, truthy
from spiders.fields import PARSERS
from spiders.profile import PLAIN_ID

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from archive.job import Job
    from spiders.profile import IdRange, ItemType, Profile

logger = logging.getLogger(__name__)

DISCOVERED_PRIORITY = 10
WARN_AFTER = 20  # answers of an item type after which expressions that never matched are reported
MAX_REDIRECTS = 5
CHUNK = 500
VERBATIM = {"verbatim_url": True}  # Request copies its meta


def _chunks(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(ids, size)):
        yield chunk


class MissingRun:
    """Consecutive ``missing`` IDs at the walk's front, counted in walk order although
    answers arrive out of order; ``stopped`` once ``limit`` (0 = never) is reached."""

    def __init__(self, limit: int):
        self.limit, self.run, self.next = limit, 0, 0
        self.pending: dict[int, bool | None] = {}
        self.stopped = False

    def record(self, position: int, missing: bool | None) -> None:
        """The outcome of the walk's ``position``-th ID (None: neither, e.g. skipped)."""
        if not self.limit:  # nothing to count: keep no state on a ten-million-ID walk
            return
        self.pending[position] = missing
        while self.next in self.pending:
            outcome = self.pending.pop(self.next)
            self.run = self.run + 1 if outcome else (0 if outcome is False else self.run)
            self.next += 1
        if self.run >= self.limit:
            self.stopped = True


class ItemSource(Protocol):
    """Where a crawl's requests come from instead of the profile's walks, e.g. the chunks a
    distributed worker leases (``spiders.worker.ChunkSource``)."""

    def requests(self, spider: IdWalkSpider) -> AsyncIterator[scrapy.Request]:
        """The requests to send (``spider.request_for`` makes them), as Scrapy has room."""

    async def admit(self, response: Response, outputs: list[Any]) -> list[Any]:
        """What of an answer's outputs (its ``Result``, requests) goes on, before its result
        reaches the store (e.g. its discoveries claimed in a shared walk)."""


class IdWalkSpider(scrapy.Spider):
    """Walks ``walks`` ([(item type, ID range)]) of ``profile`` into ``job``, or the
    requests of ``source`` when one is given."""

    name = "idwalk"

    def __init__(self, profile: Profile, job: Job, walks: list[tuple[ItemType, IdRange]],
                 source: ItemSource | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.profile, self.job, self.walks, self.source = profile, job, walks, source
        # answers go through source.admit (awaited) when there is a source
        self._callback = self.parse_item if source is None else self.parse_admitted
        self.seen: set[tuple[str, str]] = set()
        # item type -> (its walk's range, the last number requested): walked IDs count as
        # seen without being stored one by one
        self.walk_at: dict[str, tuple[IdRange, int]] = {}
        self.missing_runs: list[MissingRun] = []
        # per walk: positions requested and not yet answered (where a stopped walk resumes)
        self.outstanding: list[set[int]] = [set() for _ in walks]
        self._unread_times: set[str] = set()  # item types whose created_at was not a time
        # which expressions matched, per item type, until reported (report_unmatched)
        self._tried: dict[str, Counter[str]] = {}
        self._hits: dict[str, Counter[str]] = {}
        self._pages: Counter[str] = Counter()
        self._reported: set[str] = set()
        self._paging_stop: dict[tuple[str, str], str] = {}  # why an item's paging ended
        self._paging_warned: set[str] = set()
        self.follow_discovered = True  # False: `lifeboat try` fetches one item only
        self.trace: list[tuple[str, str, str, Page]] | None = None  # every page, for try
        self.quiet = False  # warnings to crawl.log only
        job.store.warn = self.warn  # e.g. posts.id collisions
        self._room = asyncio.Event()
        # "scheme://netloc/" of URLs found in scope -> their netloc (see _in_scope)
        self._scope_prefixes: dict[str, str] = {}
        self._max_url = 0  # Scrapy's URLLENGTH_LIMIT (0: none), read in from_crawler
        # item type -> whether its URLs may skip Scrapy's normalisation (verbatim_template)
        self._verbatim = {name: verbatim_template(item.url) for name, item in profile.items.items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> IdWalkSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._max_url = crawler.settings.getint("URLLENGTH_LIMIT")
        crawler.signals.connect(spider._room.set, signal=signals.request_left_downloader)
        return spider

    async def wait_for_room(self) -> None:
        await self.wait_while(self.crawler.engine.needs_backout)

    async def wait_while(self, busy: Callable[[], bool]) -> None:
        """Until ``busy()`` is false: checked as requests leave the downloader, and at
        least every 0.25 s."""
        while busy():
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.source is not None:
            async for request in self.source.requests(self):
                yield request
            return
        db, profile = self.job.db, self.profile.name
        # discovered-only item types are few: remember them all; walked ones (ten million
        # posts) are asked of the ledger one by one when discovered (_follow)
        targets = {t for item in self.profile.items.values() for t in item.discover
                   if self.profile.items[t].ids is None}
        self.seen = discovered_keys(db, profile, targets)
        retry_failed = getattr(self, "retry_failed", False)  # lifeboat crawl --retry-failed
        for item_type, item_id, _state in list(resumable(db, profile, retry_failed)):
            item = self.profile.items.get(item_type)
            if item is None:
                continue
            self.seen.add((item_type, item_id))
            request = self.request_for(item, item_id, DISCOVERED_PRIORITY if item.ids is None else 0)
            if request is not None:
                if self.crawler.engine.needs_backout():
                    await self.wait_for_room()
                yield request
        for walk, (item, id_range) in enumerate(self.walks):
            run = MissingRun(id_range.stop_after_missing)
            self.missing_runs.append(run)
            positions = itertools.count()
            for chunk in _chunks(iter(id_range), CHUNK):
                done = known_ids(db, profile, item.name, chunk)
                for item_id in chunk:
                    position = next(positions)
                    if run.stopped:
                        break
                    request = None
                    if item_id not in done and (item.name, item_id) not in self.seen:
                        request = self.request_for(item, item_id, extra_meta={
                            "lifeboat_walk": (walk, position)})
                        if request is not None:
                            if self.crawler.engine.needs_backout():
                                await self.wait_for_room()
                            if run.stopped:  # answers that came in meanwhile ended the walk
                                break
                    self.walk_at[item.name] = (id_range, id_range.parse(item_id))
                    # done, out of scope, or discovered (perhaps while we waited): not fetched
                    if request is None or (item.name, item_id) in self.seen:
                        run.record(position, done[item_id] == LedgerState.MISSING if item_id in done
                                   else None)
                        continue
                    self.outstanding[walk].add(position)
                    yield request
                if run.stopped:
                    logger.info("walk of %s stopped at ID %s: the last %d IDs answered were "
                                "all missing (ids.stop_after_missing)", item.name,
                                id_range.render(self.walk_at[item.name][1]), run.limit)
                    break

    def _walk_result(self, meta: dict[str, Any], state: str) -> None:
        """Count a walked ID's final state towards its walk's run of missing IDs."""
        if "lifeboat_walk" in meta:
            walk, position = meta["lifeboat_walk"]
            self.outstanding[walk].discard(position)
            self.missing_runs[walk].record(position, state == LedgerState.MISSING)

    def resume_points(self) -> dict[str, str | None]:
        """{item type: the first ID of its walk, in walk order, not answered in this run}
        for walks that did not reach their end (a crawl stopped before it finished); None
        for a walk that had not begun."""
        points: dict[str, str | None] = {}
        for walk, (item, id_range) in enumerate(self.walks):
            numbers = id_range.numbers()
            if self.outstanding[walk]:
                points[item.name] = id_range.render(numbers[min(self.outstanding[walk])])
            elif item.name not in self.walk_at:
                if len(numbers):
                    points[item.name] = None
            elif not self.missing_runs[walk].stopped:
                position = numbers.index(self.walk_at[item.name][1]) + 1
                if position < len(numbers):
                    points[item.name] = id_range.render(numbers[position])
        return points

    def walked_already(self, item_type: str, item_id: str) -> bool:
        """Whether this run's walk of ``item_type`` has already requested (or skipped as
        done in the ledger) ``item_id``."""
        if item_type not in self.walk_at:
            return False
        id_range, at = self.walk_at[item_type]
        try:
            number = id_range.parse(item_id)
        except ValueError:
            return False
        if id_range.render(number) != item_id or not id_range.start <= number <= id_range.stop:
            return False
        return number <= at if id_range.order == "ascending" else number >= at

    def request_for(self, item: ItemType, item_id: str, priority: int = 0,
                    found_in: str = "", url: str | None = None,
                    extra_meta: dict | None = None) -> scrapy.Request | None:
        """The request for one item, or None (logged to skipped.log) when out of scope or
        longer than Scrapy's URLLENGTH_LIMIT."""
        meta = None
        if url is None:
            url = item.url_for(item_id)
            if self._verbatim.get(item.name) and PLAIN_ID.fullmatch(item_id):  # Scrapy's safe_url_string: a no-op
                meta = VERBATIM
        try:
            request = scrapy.Request(url, callback=self._callback, errback=self.on_error,
                                     priority=priority, dont_filter=True, meta=meta)
        except ValueError as exc:  # no scheme, bad port ...
            self.job.log_skipped(url, f"not a valid URL: {exc}", found_in)
            return None
        # the scope is checked on the URL as Scrapy will fetch it: its normalisation may
        # read another host out of tricks like http://evil\@allowed/ than urllib does
        netloc = self._in_scope(request.url)
        reason = None if netloc is not None else self.profile.scope_reason(request.url)
        max_url = self._max_url
        if not reason and max_url and len(request.url) > max_url:  # Scrapy would drop it silently
            reason = f"URL longer than {max_url} characters"
        if reason:
            self.job.log_skipped(url, reason, found_in)
            return None
        limit = self.profile.politeness["max_json_size" if item.parse != "none" else "max_media_size"]
        request.meta.update({
            "lifeboat_item": (item.name, item_id),
            "download_slot": netloc or urlsplit(request.url).netloc, "download_maxsize": limit,
            "handle_httpstatus_all": True, "dont_redirect": True,
            # a body cut short still reaches us (flag "dataloss"), to be retried or archived
            "download_fail_on_dataloss": False,
            # media bodies past 8 MB wait for the WARC on disk; the spider reads none of them
            "lifeboat_spool": item.parse == "none", **(extra_meta or {})})
        return request

    def _in_scope(self, url: str) -> str | None:
        """``url``'s netloc if its ``scheme://netloc/`` prefix is known to be in scope, else
        None (then ask ``profile.scope_reason``). urllib reads scheme, host and port from
        the part before the first "/" after "://" alone, so one check of that prefix holds
        for every URL that starts with it."""
        end = url.find("/", url.find("://") + 3)
        if end < 0:
            return None
        prefix = url[:end + 1]
        netloc = self._scope_prefixes.get(prefix)
        if netloc is None and self.profile.scope_reason(prefix) is None:
            netloc = self._scope_prefixes[prefix] = urlsplit(prefix).netloc
        return netloc

    # ------------------------------------------------------------------ responses

    def parse_item(self, response: Response) -> Iterator[scrapy.Request]:
        """Scrapy's callback: the item's result goes to the row store, its requests to Scrapy."""
        return self._hand_over(self.outputs(response))

    async def parse_admitted(self, response: Response) -> AsyncIterator[scrapy.Request]:
        """Scrapy's callback with a ``source``: as ``parse_item``, with what it admits."""
        for request in self._hand_over(await self.source.admit(response, self.outputs(response))):
            yield request

    def _hand_over(self, outputs: list[Any]) -> Iterator[scrapy.Request]:
        for output in outputs:
            if isinstance(output, Result):
                self.job.store.add_result(output)
            else:
                yield output

    def outputs(self, response: Response) -> list[Any]:
        """The item's result and its discovered requests; never lets an ID go unrecorded."""
        try:
            out = list(self._parse_item(response))
        except Exception as exc:  # a bug or an answer nobody foresaw: record it, go on
            logger.exception("could not process %s", response.url)
            item_type, item_id = response.meta["lifeboat_item"]
            out = [Result(captures=_claimed_captures(response.meta), ledger=LedgerEntry(
                item_type, item_id, LedgerState.FAILED, _attempts(response.meta), response.status,
                utc_now(), f"lifeboat could not process this answer: "
                           f"{exc.__class__.__name__}: {exc}"[:300]))]
        for result in out:
            if isinstance(result, Result):
                self._walk_result(response.meta, result.ledger.state)
        return out

    def _parse_item(self, response: Response) -> Iterator[Any]:
        """The outputs of one answer; for a later page of a paged item, the rows of the
        pages before it go with whatever this one ends in."""
        paging = response.meta.get("lifeboat_paging")
        outputs = list(self._parse_page(response, paging))
        if not paging:
            yield from outputs
            return
        for output in outputs:
            if isinstance(output, Result):
                self._merge_pages(output, paging, response)
                yield output
                yield from self._follow(paging["found"], response.url, output)
            else:
                yield output

    def _parse_page(self, response: Response, paging: dict[str, Any] | None) -> Iterator[Any]:
        item_type, item_id = response.meta["lifeboat_item"]
        item = self.profile.items[item_type]
        attempts = _attempts(response.meta)
        capture: Capture | None = response.meta.get("lifeboat_capture")
        status = response.status
        captures = _claimed_captures(response.meta)
        result = Result(captures=captures)

        def finish(state: LedgerState, reason: str | None = None) -> Result:
            result.ledger = LedgerEntry(item_type, item_id, state, attempts, status,
                                        utc_now(), reason)
            return result

        if 300 <= status < 400 and response.headers.get("Location"):
            yield from self._redirect(response, item, item_id, attempts, captures, finish)
            return
        if status in item.forbidden_status:
            yield finish(LedgerState.FORBIDDEN, f"HTTP {status}")
            return
        if status in item.missing_status:
            yield finish(LedgerState.MISSING, f"HTTP {status}")
            return
        if status >= 300 or status < 200:
            again = f" after {attempts} attempts" if attempts > 1 else ""
            given_up = response.meta.get("lifeboat_gave_up")  # e.g. an absurd Retry-After
            yield finish(LedgerState.FAILED,
                         f"HTTP {status}{again}" + (f": {given_up}" if given_up else ""))
            return

        if "dataloss" in response.flags:
            yield finish(LedgerState.FAILED, f"truncated: the connection closed before the whole "
                         f"body arrived ({len(response.body)} bytes; WARC-Truncated)")
            return
        parser = PARSERS[item.parse]
        try:
            document = parser.load(response.body)
        except ValueError as exc:
            yield finish(LedgerState.FAILED, str(exc)[:300])
            return
        if item.parse == "none":
            if item.table == "media":
                result.media = self._media_rows(item, item_id, response, capture, result)
            yield finish(LedgerState.ARCHIVED)
            return
        try:
            page = extract_page(self.profile, item, item_id, document, response.url,
                                lambda: _base_url(response), lambda: response.text,
                                first_page=paging is None, links=lambda: [
                                    v.decode("latin-1") for v in response.headers.getlist("Link")],
                                capture_id=capture.id if capture else None)
        except Exception as exc:  # an expression that breaks on this answer: say which
            yield finish(LedgerState.FAILED, f"profile expression failed on this answer: "
                                             f"{exc.__class__.__name__}: {exc}"[:300])
            return
        self._noticed(item, item_id, response.url, page)
        public = page.state in (LedgerState.ARCHIVED, LedgerState.DELETED)
        if public:
            result.posts, result.post_media = page.posts, page.post_media
            result.child_media = [ChildMedia(item_type, item_id, url)
                                  for url in page.child_media]
            if item.table == "media":
                result.media = self._media_rows(item, item_id, response, capture, result)
        if public and page.next_url:
            request = self._next_page(item, item_id, response, page, paging, attempts,
                                      captures)
            if request is not None:
                yield request
                return
        reason = None if public else f"states.{page.state}_if matched"
        if public and page.next_url:
            reason = self._paging_stop.pop((item_type, item_id), None)
        yield finish(page.state, reason)
        yield from self._follow(page.found if public else [], response.url, result)

    def _next_page(self, item: ItemType, item_id: str, response: Response, page: Page,
                   paging: dict[str, Any] | None, attempts: int,
                   captures: list[int]) -> scrapy.Request | None:
        """The request for the item's next page, carrying the rows so far; None (with the
        reason in ``_paging_stop``) when paging ends here."""
        paging = paging or {"pages": 0, "urls": [], "posts": [], "post_media": [],
                            "child_media": [], "found": [], "state": page.state}
        urls = [*paging["urls"], response.url]
        key = (item.name, item_id)
        if page.next_url in urls or page.next_url == response.request.url:
            return None  # the last page links to itself or back: done
        if len(urls) >= item.max_pages:
            self._paging_stop[key] = (f"paging stopped after items.{item.name}.max_pages = "
                                      f"{item.max_pages} pages; next was {page.next_url}")
            if item.name not in self._paging_warned:
                self._paging_warned.add(item.name)
                self.warn(f"items.{item.name}: {self._paging_stop[key]} (raise max_pages to "
                          f"follow longer items)")
            return None
        carried = {
            "pages": len(urls), "urls": urls, "state": paging["state"],
            "posts": _deduplicated(paging["posts"] + page.posts),
            "post_media": paging["post_media"] + page.post_media,
            "child_media": paging["child_media"] + page.child_media,
            "found": paging["found"] + page.found,
        }
        request = self.request_for(
            item, item_id, response.request.priority, response.url, url=page.next_url,
            extra_meta={"lifeboat_paging": carried, "lifeboat_attempts": attempts,
                        "lifeboat_prior_captures": captures,
                        **{k: v for k, v in response.meta.items() if k == "lifeboat_walk"}})
        if request is None:
            self._paging_stop[key] = (f"next page {page.next_url} not fetched (see "
                                      f"logs/skipped.log)")
        return request

    def _merge_pages(self, result: Result, paging: dict[str, Any],
                     response: Response) -> None:
        """Put the earlier pages' rows into the last page's result; a later page that is
        missing or forbidden ends the paging, not the item."""
        result.posts = _deduplicated(paging["posts"] + result.posts)
        result.post_media = paging["post_media"] + result.post_media
        item_type, item_id = response.meta["lifeboat_item"]
        result.child_media = [*[ChildMedia(item_type, item_id, url)
                                for url in paging["child_media"]], *result.child_media]
        ledger = result.ledger
        where = f"page {paging['pages'] + 1} ({response.url})"
        if ledger.state in (LedgerState.MISSING, LedgerState.FORBIDDEN):
            result.ledger = replace(ledger, state=paging["state"], reason=(
                f"{where}: {ledger.reason}; paging stopped, the {paging['pages']} pages "
                f"before it are archived"))
        elif ledger.state == LedgerState.FAILED:
            result.ledger = replace(ledger, reason=(
                f"{where}: {ledger.reason}; the {paging['pages']} pages before it are "
                f"archived")[:300])
        elif ledger.state == LedgerState.ARCHIVED and paging["state"] == LedgerState.DELETED:
            result.ledger = replace(ledger, state=LedgerState.DELETED)

    def _noticed(self, item: ItemType, item_id: str, url: str, page: Page) -> None:
        """Count which expressions matched on this page; after ``WARN_AFTER`` pages of an
        item type, warn about each that never did. ``trace`` keeps whole pages (try)."""
        for text in page.unread_times[:1]:
            if item.name not in self._unread_times:
                self._unread_times.add(item.name)
                self.warn(f"items.{item.name}.fields.created_at gave {text[:80]!r}, which is "
                          f"not a time lifeboat reads (epoch s/ms, ISO 8601, RFC 2822): "
                          f"stored as given; see spiders/profiles/README.md")
        if self.trace is not None:
            self.trace.append((item.name, item_id, url, page))
        if item.name in self._reported:
            return
        tried, hits = self._tried.setdefault(item.name, Counter()), \
            self._hits.setdefault(item.name, Counter())
        for _row, key, value in page.values:
            tried[key] += 1
            if matched(value):
                hits[key] += 1
        self._pages[item.name] += 1
        if self._pages[item.name] >= WARN_AFTER:
            self.report_unmatched(item.name)

    def report_unmatched(self, item_type: str) -> None:
        """Warn once about each expression of ``item_type`` that has matched nothing yet."""
        self._reported.add(item_type)
        tried, hits = self._tried.get(item_type, {}), self._hits.get(item_type, {})
        for key in tried:
            if not hits.get(key) and key not in QUIET_WHEN_EMPTY:
                self.warn(f"items.{item_type}.{key} matched nothing in the first "
                          f"{self._pages[item_type]} answers of {item_type}: check it with "
                          f"`lifeboat try` (spiders/profiles/README.md)")

    def closed(self, reason: str) -> None:
        """Scrapy's spider_closed: report expressions of item types with few answers."""
        for item_type in list(self._pages):
            if item_type not in self._reported:
                self.report_unmatched(item_type)

    def warn(self, message: str) -> None:
        """A problem of the profile the operator must see: in logs/crawl.log and on stderr
        (above the progress bar)."""
        logger.warning(message)
        if not self.quiet:
            tqdm.write(f"lifeboat: warning: {message}", file=sys.stderr)

    def _media_rows(self, item: ItemType, item_id: str, response: Response,
                    capture: Capture | None, result: Result) -> list[Media]:
        """The media row of the URL the item was asked for (the URL a post gave), and after
        a redirect one of the URL it ended at (archived under that URL in the ledger too,
        so that it is not fetched again); both name the final URL and the same capture."""
        asked = item.url_for(item_id)
        target = response.meta.get("lifeboat_target")  # the last Location, as it was written
        final_url = None if response.url == asked else response.url
        row = (Media(asked, capture.payload_sha256, capture.content_type, capture.payload_size,
                     capture.id, final_url) if capture else
               Media(asked, None, None, None, None, final_url))
        rows = [row]
        if target and target != asked:
            rows.append(replace(row, url=target,
                                final_url=None if response.url == target else response.url))
            if item.url == "{id}":
                result.ledger_more.append(LedgerEntry(
                    item.name, target, LedgerState.ARCHIVED, 0, response.status, utc_now(),
                    f"reached by a redirect from {item_id}"))
        return rows

    def _follow(self, found: list[tuple[str, str, str | None]], found_in: str,
                result: Result) -> Iterator[scrapy.Request]:
        """Requests for discovered items not seen before; each is queued in the ledger.
        A child item whose media are credited to its parent post is linked to that post
        even when it was found before (by another post)."""
        if not self.follow_discovered:
            return
        queued = result.queued
        for target, value, post_id in found:
            if post_id is not None and self.profile.items[target].credits_parent:
                result.post_children.append(PostChild(post_id, target, value))
            key = (target, value)
            if key in self.seen or self.walked_already(target, value):
                continue
            self.seen.add(key)
            if self.profile.items[target].ids is not None and known_ids(
                    self.job.db, self.profile.name, target, [value]):
                continue  # an earlier run has it (and resumes it if it failed)
            request = self.request_for(self.profile.items[target], value, DISCOVERED_PRIORITY,
                                       found_in)
            if request is not None:
                queued.append(Queued(target, value, utc_now()))
                yield request

    def _redirect(self, response: Response, item: ItemType, item_id: str, attempts: int,
                  captures: list[int], finish) -> Iterator[Any]:
        target = join_url(response.url, response.headers["Location"].decode("latin-1"))
        hops = response.meta.get("lifeboat_redirects", 0) + 1
        if item.login_url is not None and item.login_url.search(target):
            yield finish(LedgerState.FORBIDDEN, f"redirected to login page {target}")
            return
        if hops > MAX_REDIRECTS:
            yield finish(LedgerState.FAILED, f"more than {MAX_REDIRECTS} redirects")
            return
        paging = response.meta.get("lifeboat_paging")
        if item.url == "{id}" and target != item_id and not paging:  # an ID of this type too
            key = (item.name, target)
            if key in self.seen:  # archived, queued or on its way: never fetched twice
                done = finish(LedgerState.ARCHIVED,
                              f"redirected to {target}, which this job fetches under that URL")
                if item.table == "media":  # payload columns filled from that row's (store)
                    done.media = [Media(item_id, None, None, None, None, target)]
                yield done
                return
            self.seen.add(key)
        request = self.request_for(
            item, item_id, response.request.priority, response.url, url=target,
            extra_meta={"lifeboat_redirects": hops, "lifeboat_attempts": attempts,
                        "lifeboat_prior_captures": captures, "lifeboat_target": target,
                        **({"lifeboat_paging": paging} if paging else {}),
                        **{k: v for k, v in response.meta.items() if k == "lifeboat_walk"}})
        if request is None:  # out of scope: logged to skipped.log with the reason
            yield finish(LedgerState.FAILED, f"redirected out of scope to {target}")
            return
        yield request

    def on_error(self, failure: Failure) -> None:
        request = failure.request
        item_type, item_id = request.meta["lifeboat_item"]
        state, text, skipped = error_state(failure.value, request.meta.get("download_maxsize"))
        if skipped:
            self.job.log_skipped(request.url, text)
        capture = request.meta.get("lifeboat_capture")  # e.g. a gzip bomb, archived as sent
        self._walk_result(request.meta, state)
        self.job.store.add_result(Result(
            captures=_claimed_captures(request.meta), ledger=LedgerEntry(
                item_type, item_id, state, _attempts(request.meta),
                capture.status if capture else None, utc_now(), text[:300])))


def verbatim_template(template: str) -> bool:
    """Whether every URL made of ``template`` and a plain ID (``PLAIN_ID``) is already what
    w3lib's safe_url_string makes of it, so that Scrapy can skip that (meta ``verbatim_url``):
    the template is, ``{id}`` comes after the host, and no "%" could form an escape with it."""
    scheme_end = template.find("://")
    host_end = template.find("/", scheme_end + 3)
    at = template.find("{id}")
    if scheme_end < 0 or host_end < 0 or at < host_end or "%" in template \
            or any(c in template[:host_end] for c in "?#{"):
        return False
    return all(safe_url_string(url) == url
               for url in (template.replace("{id}", sample) for sample in ("0", "Az9_.-~")))


def _deduplicated(posts: list[Post]) -> list[Post]:
    """``posts`` without repeats of an element already seen on an earlier page (same ID,
    same content): pages that overlap give each element once. The same ID with other
    content is kept, and recorded as a collision when stored (``post_collisions``)."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for post in posts:
        key = (post.id, post.raw)
        if key not in seen:
            seen.add(key)
            out.append(post)
    return out


def _base_url(response: Response) -> str:
    """What the item's media links are relative to: a page's <base href>, else its URL."""
    try:
        return response.urljoin("")
    except ValueError:
        return response.url


def _attempts(meta: dict[str, Any]) -> int:
    return meta.get("lifeboat_attempts", 0) + meta.get("retry_times", 0) + 1


def _claimed_captures(meta: dict[str, Any]) -> list[int]:
    """Capture ids of an item's exchanges: earlier redirect hops and the last answer."""
    capture = meta.get("lifeboat_capture")
    return [*meta.get("lifeboat_prior_captures", ()), *([capture.id] if capture else [])]


def error_state(exc: BaseException, maxsize: int | None) -> tuple[str, str, bool]:
    """(ledger state, reason, also log to skipped.log) for a request that got no answer
    the spider could read."""
    text = f"{exc.__class__.__name__}: {exc}"
    if isinstance(exc, IgnoreRequest) and "robots.txt" in str(exc):
        return LedgerState.FORBIDDEN, "disallowed by robots.txt", True
    if isinstance(exc, IgnoreRequest) and "during decompression" in str(exc):
        return LedgerState.FAILED, (f"oversize: larger than {maxsize} bytes once decompressed "
                          f"(a compression bomb?); the compressed answer is archived"), True
    if isinstance(exc, (DownloadCancelledError, CancelledError)) or "max size" in str(exc):
        return LedgerState.FAILED, f"oversize: larger than {maxsize} bytes", True
    if isinstance(exc, ResponseDataLossError):
        text = (f"{exc.__class__.__name__}: the connection closed before the whole body "
                f"arrived (shorter than its Content-Length, or reset)")
    reasons = getattr(exc.__cause__, "reasons", None)  # Twisted's ResponseFailed: say why
    if reasons:
        text = f"{exc.__class__.__name__}: " + "; ".join(
            f"{r.type.__name__}: {r.getErrorMessage()}" for r in reasons)
        if any(r.type.__name__ in ("ConnectionDone", "ConnectionLost") for r in reasons):
            text += " (no complete response: the server hung up, or sent a header over 16 KB)"
    return LedgerState.FAILED, text, False
