"""Retries with exponential backoff that honour ``Retry-After``, and the request log.

``PoliteRetryMiddleware`` replaces Scrapy's RetryMiddleware. On 429/503 (and the other
retryable statuses and network errors) it retries after a delay: the server's
``Retry-After`` when given (and then the whole host pauses for that long), otherwise
``backoff_base * 2**(attempt-1)`` capped at ``backoff_max``. Every request sent, response
received and retry decided is written to ``logs/requests.log``.

The host pauses from the moment a 429/503's head with ``Retry-After`` arrives (the download
handler's ``RETRY_AFTER_HEARD`` signal), before its body is read and before Scrapy's
downloader hands the next queued request to the handler: the pause holds requests waiting
in this middleware and those already queued in Scrapy's download slot (pausing only when
the 429 reached this middleware let dozens more requests reach the server: bench/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.misc import load_object

from spiders.http_handler import RETRY_AFTER_HEARD

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
PAUSE_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def retry_delay(attempt: int, retry_after: float | None, base: float, cap: float,
                retry_after_max: float) -> float:
    """Seconds before retry number ``attempt`` (1-based)."""
    if retry_after is not None:
        return min(retry_after, retry_after_max)
    return min(cap, base * 2 ** (attempt - 1))


class PoliteRetryMiddleware:
    """Downloader middleware: retry with backoff, pause a host on Retry-After, log requests."""

    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_retry_times = settings.getint("RETRY_TIMES")
        self.base = settings.getfloat("LIFEBOAT_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("LIFEBOAT_BACKOFF_MAX", 120.0)
        self.retry_after_max = settings.getfloat("LIFEBOAT_RETRY_AFTER_MAX", 600.0)
        self.exception_names = settings.getlist("RETRY_EXCEPTIONS")
        self.paused_until: dict[str, float] = {}
        self.other_maxsize = settings.getint("LIFEBOAT_OTHER_MAXSIZE")
        crawler.signals.connect(self.retry_after_heard, signal=RETRY_AFTER_HEARD)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PoliteRetryMiddleware:
        return cls(crawler)

    @cached_property
    def exceptions(self) -> tuple[type[BaseException], ...]:
        """The RETRY_EXCEPTIONS classes, loaded at the first failed download: one of them
        (Twisted's TunnelError) imports Scrapy's HTTP/1.1 handler and pyOpenSSL, start-up
        that the lean handler (spiders/http_handler.py) does not need."""
        return tuple(load_object(x) if isinstance(x, str) else x for x in self.exception_names)

    @property
    def job(self):
        return self.crawler.spider.job

    def _slot(self, request: Request) -> str:
        """The request's host as the spider names download slots: its netloc ("host:port",
        IPv6 in brackets). Set on requests the spider did not make (robots.txt), which
        Scrapy would otherwise put in a slot of their own named by the bare host name."""
        slot = request.meta.get("download_slot")
        if slot is None:
            slot = request.meta["download_slot"] = urlsplit(request.url).netloc
        return slot

    async def process_request(self, request: Request) -> None:
        if "download_maxsize" not in request.meta and self.other_maxsize:
            # requests the spider did not make (robots.txt) get the JSON limit, not the
            # media one: a robots.txt that inflates to gigabytes is cut off like a post
            request.meta["download_maxsize"] = self.other_maxsize
        slot = self._slot(request)
        while True:
            wait = max(self.paused_until.get(slot, 0.0),
                       request.meta.get("lifeboat_not_before", 0.0)) - time.time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self.job.log_request("send", slot, request.url)
        return None

    def retry_after_heard(self, request: Request, status: int, retry_after: str) -> None:
        """A 429/503 head with Retry-After has just arrived: pause its host now."""
        seconds = parse_retry_after(retry_after) if status in PAUSE_STATUSES else None
        if seconds is None or request.meta.get("dont_retry"):
            return
        request.meta["lifeboat_paused_at"] = time.time()
        self.job.log_request("pause", self._slot(request), request.url, status, retry_after)
        self._pause_host(self._slot(request), min(seconds, self.retry_after_max),
                         f"HTTP {status} on {request.url}")

    def process_response(self, request: Request, response: Response) -> Request | Response:
        slot = self._slot(request)
        header = response.headers.get("Retry-After")
        retry_after_text = header.decode("latin-1") if header else ""
        self.job.log_request("recv", slot, request.url, response.status, retry_after_text)
        if "dataloss" in response.flags and not request.meta.get("dont_retry"):
            # the body was cut short (Content-Length not reached, or reset); the last
            # attempt goes on to be archived as truncated
            return self._retry(request, "body cut short (data loss)", None) or response
        if response.status not in RETRY_STATUSES or request.meta.get("dont_retry"):
            return response
        retry_after = parse_retry_after(retry_after_text) if response.status in PAUSE_STATUSES \
            else None
        return self._retry(request, f"HTTP {response.status}", retry_after) or response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        self.job.log_request("error", self._slot(request), request.url, "",
                             f"{exception.__class__.__name__}: {exception}")
        if isinstance(exception, self.exceptions) and not request.meta.get("dont_retry"):
            return self._retry(request, exception.__class__.__name__, None)
        return None

    def _retry(self, request: Request, reason: str, retry_after: float | None) -> Request | None:
        attempt = request.meta.get("retry_times", 0) + 1
        delay = retry_delay(attempt, retry_after, self.base, self.cap, self.retry_after_max)
        slot = self._slot(request)
        paused_at = request.meta.pop("lifeboat_paused_at", None)  # by retry_after_heard
        if retry_after is not None and paused_at is None:
            # the host asked for a pause (and the handler did not say so at its head)
            self._pause_host(slot, delay, f"{reason} on {request.url}")
        if retry_after is not None and retry_after > self.retry_after_max:
            # retrying sooner than asked is rude, waiting that long stalls the crawl: give
            # up on this request (it ends failed; a later run retries failed IDs)
            request.meta["lifeboat_gave_up"] = (
                f"Retry-After {retry_after:.0f} s is over politeness.retry_after_max "
                f"({self.retry_after_max:g} s); not retried")
            self.job.log_request("giveup", slot, request.url, "", request.meta["lifeboat_gave_up"])
            return None
        new = get_retry_request(request, spider=self.crawler.spider, reason=reason,
                                max_retry_times=self.max_retry_times)
        if new is None:
            return None
        capture = new.meta.pop("lifeboat_capture", None)  # archived; the item claims it
        if capture is not None:
            new.meta["lifeboat_prior_captures"] = [*new.meta.get("lifeboat_prior_captures", ()),
                                                   capture.id]
        new.meta["lifeboat_not_before"] = (paused_at or time.time()) + delay
        self.job.log_request("retry", slot, request.url, "",
                             f"{reason}; attempt {attempt + 1} in {delay:.2f} s"
                             + (" (Retry-After)" if retry_after is not None else ""))
        return new

    def _pause_host(self, slot: str, delay: float, why: str) -> None:
        until = time.time() + delay
        self.paused_until[slot] = max(self.paused_until.get(slot, 0.0), until)
        hold_download_slot(self.crawler, slot, self.paused_until[slot] - time.time())
        logger.info("Retry-After %.1f s (%s): pausing host %s until %s", delay, why, slot,
                    datetime.fromtimestamp(until, timezone.utc).isoformat())
        self.crawler.stats.inc_value("lifeboat/retry_after_honoured")


def hold_download_slot(crawler: Crawler, slot_key: str, delay: float) -> None:
    """Hold the requests already queued in Scrapy's download slot for this host too.

    Uses the slot's ``latercall`` (Scrapy's own delay timer, which its downloader checks
    before handing out a queued request); when it fires, the downloader carries on. A
    timer set to fire later than ``delay`` is left alone.
    """
    downloader = crawler.engine.downloader
    slot = downloader.slots.get(slot_key)
    if slot is None or not hasattr(slot, "latercall"):
        return
    holds: dict[str, tuple[Any, float]] = downloader.__dict__.setdefault("lifeboat_holds", {})
    when = time.monotonic() + delay
    if slot.latercall is not None:
        held, until = holds.get(slot_key, (None, 0.0))
        if held is slot and until >= when:
            return
        slot.latercall.cancel()
    holds[slot_key] = (slot, when)
    slot.latercall = call_later(delay, downloader._latercall, slot)
