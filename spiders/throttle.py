"""AutoThrottle for ID walks: a platform's "no such ID" answers count as normal answers.

Scrapy's AutoThrottle never lowers its delay on a non-200 response (error pages are small
and fast, so they would make a struggling server look quick). In an ID walk, though, 404,
403 and 410 are the platform's ordinary answers about IDs: a range with many gaps would
keep the delay at its start value for the whole walk (about 20 requests/s per host with
the demo profile). Here every final answer below 500 except 429 may lower the delay;
429 and 5xx still only raise it, so a struggling server is still given room.

Where a host's concurrency limit is no higher than the target concurrency (an explicit
``--concurrency N`` sets both to N), the limit alone keeps at most the target in flight,
and as the server slows down the rate falls with it (N / latency). AutoThrottle's usual
floor of latency / target between two requests would only add pacing on top and hold the
crawl well below N / latency (every late timer and busy moment of the event loop is lost
for good; bench/README.md, section 2). There, normal answers halve
the delay towards ``DOWNLOAD_DELAY`` instead; 429 and 5xx still raise it as above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.extensions.throttle import AutoThrottle

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot
    from scrapy.http import Response


def answers_normally(status: int) -> bool:
    """Whether a response may lower the delay: not throttled, no server error."""
    return status < 500 and status != 429


class IdWalkThrottle(AutoThrottle):
    """AutoThrottle whose delay follows 404/403/410 answers too (see the module docstring)."""

    def _adjust_delay(self, slot: Slot, latency: float, response: Response) -> None:
        if not answers_normally(response.status):
            super()._adjust_delay(slot, latency, response)
            return
        target_delay = latency / self.target_concurrency
        if slot.concurrency <= self.target_concurrency:  # the limit keeps the target
            target_delay = 0.0
        new_delay = max(target_delay, (slot.delay + target_delay) / 2.0)
        slot.delay = min(max(self.mindelay, new_delay), self.maxdelay)
