"""Cross-worker politeness: a ``Retry-After`` seen by one worker slows every worker.

``SharedPauseRecord`` writes a 429/503 ``Retry-After`` into Redis as
``lifeboat:<profile>:pause:<host>`` with that expiry as soon as the answer's head arrives
(the download handler's ``RETRY_AFTER_HEARD`` signal); ``SharedPauseWait`` (before
``PoliteRetryMiddleware`` on the request path, so ``logs/requests.log`` only shows requests
really sent) holds every request to a paused host until the pause has run out, and holds
the requests already queued in Scrapy's download slot for that host too. Workers look the
pause up at most every ``LIFEBOAT_SHARED_PAUSE_CHECK`` seconds per host, so a busy crawl
costs Redis a few calls a second. Both talk to Redis with awaited calls (redis.asyncio), on
one client per crawl made from ``REDIS_URL`` and ``LIFEBOAT_PROFILE_NAME``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured

from spiders.chunks import AsyncChunkQueue, connect_async
from spiders.http_handler import RETRY_AFTER_HEARD
from spiders.middlewares import PAUSE_STATUSES, hold_download_slot, parse_retry_after

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request

logger = logging.getLogger(__name__)


def _host(request: Request) -> str:
    return request.meta.get("download_slot") or urlsplit(request.url).netloc


class _SharedPause:
    def __init__(self, crawler: Crawler):
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured
        self.crawler = crawler
        self.check_every = crawler.settings.getfloat("LIFEBOAT_SHARED_PAUSE_CHECK", 0.25)
        self.cap = crawler.settings.getfloat("LIFEBOAT_RETRY_AFTER_MAX", 600.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler):
        return cls(crawler)

    @property
    def queue(self) -> AsyncChunkQueue:
        """The crawl's client, shared by both middlewares, closed when the spider closes."""
        queue = getattr(self.crawler, "lifeboat_pause_queue", None)
        if queue is None:
            settings = self.crawler.settings
            queue = AsyncChunkQueue(connect_async(settings["REDIS_URL"]),
                                    settings["LIFEBOAT_PROFILE_NAME"])
            self.crawler.lifeboat_pause_queue = queue
            self.crawler.signals.connect(queue.close, signal=signals.spider_closed)
        return queue

    @property
    def known(self) -> dict[str, tuple[float, float]]:
        """host -> (checked at, paused until), in this process's clock; shared by both."""
        return self.crawler.spider.__dict__.setdefault("lifeboat_shared_pauses", {})

    def learn(self, host: str, until: float, checked: float | None = None) -> float:
        """Note that ``host`` is paused until ``until`` (a pause is never shortened: an
        answer read from Redis before a pause was published must not undo it) and, when
        given, that Redis was ``checked`` then; returns the pause's end."""
        was_checked, was_until = self.known.get(host, (0.0, 0.0))
        until = max(until, was_until)
        self.known[host] = (was_checked if checked is None else checked, until)
        return until


class SharedPauseWait(_SharedPause):
    """Downloader middleware: wait while another worker's Retry-After pauses the host."""

    async def process_request(self, request: Request) -> None:
        host = _host(request)
        while True:
            now = time.time()
            checked, until = self.known.get(host, (0.0, 0.0))
            if now - checked >= self.check_every:
                before = until
                until = self.learn(host, now + await self.queue.host_pause(host), now)
                if until > max(before, now) + 0.05:  # news of another worker's pause
                    hold_download_slot(self.crawler, host, until - now)
            if until <= now:
                return None
            self.crawler.stats.inc_value("lifeboat/shared_pause_waits")
            await asyncio.sleep(min(until - now, self.check_every * 4))


class SharedPauseRecord(_SharedPause):
    """Publishes a 429/503 Retry-After to every worker as its head arrives (listed with
    the downloader middlewares so that it is made with them; it handles no response)."""

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._tasks: set[asyncio.Task] = set()  # held until done (the loop keeps weak refs)
        crawler.signals.connect(self.retry_after_heard, signal=RETRY_AFTER_HEARD)

    def retry_after_heard(self, request: Request, status: int, retry_after: str) -> None:
        seconds = parse_retry_after(retry_after) if status in PAUSE_STATUSES else None
        if seconds:
            # known here at once: the retry of this request waits for it, then looks again
            self.learn(_host(request), time.time() + min(seconds, self.cap))
            task = asyncio.ensure_future(self._publish(request, seconds))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, request: Request, seconds: float) -> None:
        host = _host(request)
        try:
            left = await self.queue.pause_host(host, min(seconds, self.cap))
        except Exception:  # Redis away: this worker still pauses (PoliteRetryMiddleware)
            logger.exception("could not share the pause of %s", host)
            return
        self.learn(host, time.time() + left, time.time())
        self.crawler.stats.inc_value("lifeboat/shared_pauses_published")
        logger.info("Retry-After %.1f s on %s: every worker pauses %s", seconds,
                    request.url, host)
