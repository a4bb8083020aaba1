"""The Scrapy side of capture: hand every exchange's wire bytes to ``archive.capture``.

``CaptureMiddleware`` is a downloader middleware placed before the retry middleware on the
way back (and so before ``HttpCompressionMiddleware``): it sees every answer, the 429/503
and cut-short ones that are retried included, and every download that failed after an
answer's head arrived (over the size limit, timed out, cut off), which
``spiders.http_handler`` hands over with the bytes received (``WARC-Truncated``). The
capture row goes to ``request.meta["lifeboat_capture"]``; the retry middleware moves it to
``lifeboat_prior_captures`` of the retried request, so the item's result claims every
exchange while its ledger row and table rows point at the final answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from archive.capture import capture_exchange

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from archive.wire import WireExchange

logger = logging.getLogger(__name__)


class CaptureMiddleware:
    """Downloader middleware writing every exchange (request and answer bytes) to the WARC."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        wire = request.meta.pop("lifeboat_wire", None)
        if wire is None:
            logger.warning("%s came without its wire bytes (not through lifeboat's download "
                           "handler): not archived", response.url)
        else:
            self._capture(request, wire)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        wire = getattr(exception, "lifeboat_wire", None)
        if wire is not None:  # an answer cut off by a limit or an error: archived as such
            self._capture(request, wire)
        return None

    def _capture(self, request: Request, wire: WireExchange) -> None:
        job = getattr(self.crawler.spider, "job", None)
        if job is None:
            wire.close()
            return
        capture = capture_exchange(job, wire, held="lifeboat_item" in request.meta)
        request.meta["lifeboat_capture"] = capture
        self.crawler.stats.inc_value(f"lifeboat/captures/{capture.warc_type}")
