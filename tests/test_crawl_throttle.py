"""spiders.throttle: how AutoThrottle's delay moves under an ID walk's answers.

Real Scrapy downloader slots and responses; the latency is what Scrapy would measure.
"""

from __future__ import annotations

import pytest
from scrapy.core.downloader import Slot
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from spiders.throttle import IdWalkThrottle

LATENCY = 0.1  # a server across an ocean


def throttle(target: float, download_delay: float = 0.0) -> IdWalkThrottle:
    crawler = get_crawler(settings_dict={
        "AUTOTHROTTLE_ENABLED": True, "AUTOTHROTTLE_TARGET_CONCURRENCY": target,
        "AUTOTHROTTLE_MAX_DELAY": 10.0, "DOWNLOAD_DELAY": download_delay})
    extension = IdWalkThrottle.from_crawler(crawler)
    extension.mindelay, extension.maxdelay = extension._min_delay(), extension._max_delay()
    return extension


def answer(extension: IdWalkThrottle, slot: Slot, status: int, times: int = 20) -> None:
    request = Request("http://127.0.0.1/api/v1/posts/1")
    for _ in range(times):
        extension._adjust_delay(slot, LATENCY, TextResponse(request.url, status=status,
                                                            request=request, body=b"{}"))


@pytest.mark.parametrize("status", [200, 404, 403])
def test_limit_holding_the_target_leaves_no_pacing_delay(status):
    """--concurrency 32: per-host limit 32 = target 32, so normal answers (and the walk's
    404/403) bring the delay down to DOWNLOAD_DELAY, not to latency / 32."""
    slot = Slot(concurrency=32, delay=0.05)
    answer(throttle(32.0), slot, status)
    assert slot.delay < 0.0001


def test_download_delay_stays_the_floor():
    slot = Slot(concurrency=32, delay=0.05)
    answer(throttle(32.0, download_delay=0.02), slot, 200)
    assert slot.delay == pytest.approx(0.02)


def test_target_below_the_limit_still_paces():
    """A profile asking 2 in flight per host while allowing 4 keeps latency / 2."""
    slot = Slot(concurrency=4, delay=1.0)
    answer(throttle(2.0), slot, 200, times=40)
    assert slot.delay == pytest.approx(LATENCY / 2, rel=0.01)


@pytest.mark.parametrize("status", [429, 503])
def test_throttled_and_failing_answers_still_raise_the_delay(status):
    slot = Slot(concurrency=32, delay=0.0)
    answer(throttle(32.0), slot, status, times=1)
    assert slot.delay == pytest.approx(LATENCY / 32)
    answer(throttle(32.0), slot, 200)
    assert slot.delay < 0.0001  # and normal answers bring it down again
