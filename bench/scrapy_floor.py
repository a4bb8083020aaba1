"""What Scrapy alone costs per request: the floor under any Scrapy-based crawler's CPU.

A spider yields ``--requests`` requests (``dont_filter``) to a download handler that answers
from memory; the callback does nothing; every middleware and extension is off. The CPU of
the crawl (start-up excluded) divided by the requests is Scrapy's own engine, scheduler,
downloader and scraper per request, on the same reactor and event loop lifeboat runs.
Compare it with wget's whole CPU per archived record in ``python -m bench.crawl_cost``.

    python -m bench.scrapy_floor                  # 20,000 requests, a few seconds
"""

from __future__ import annotations

import logging
import resource

import click
import scrapy
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.http import Headers, TextResponse

from spiders.settings import EVENT_LOOP, TWISTED_REACTOR

BODY = b'{"id": 1, "text": "hello"}'


class MemoryHandler:
    """Download handler answering every request at once, with no I/O."""

    lazy = False

    @classmethod
    def from_crawler(cls, crawler) -> MemoryHandler:
        return cls()

    async def download_request(self, request: scrapy.Request) -> TextResponse:
        request.meta["download_latency"] = 0.0
        return TextResponse(request.url, status=200, body=BODY, request=request,
                            headers=Headers({"Content-Type": "application/json"}))

    async def close(self) -> None:
        pass


class NullSpider(scrapy.Spider):
    """Requests 127.0.0.1:9/0 .. /N-1; the callback returns nothing."""

    name = "null"

    def __init__(self, requests: int, **kwargs):
        super().__init__(**kwargs)
        self.requests = requests

    async def start(self):
        for number in range(self.requests):
            yield scrapy.Request(f"http://127.0.0.1:9/{number}", callback=self.parse,
                                 dont_filter=True)

    def parse(self, response: TextResponse) -> None:
        return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@click.command()
@click.option("--requests", default=20_000, show_default=True)
@click.option("--concurrency", default=16, show_default=True)
def main(requests: int, concurrency: int) -> None:
    """Scrapy's own CPU per request, with lifeboat's reactor and event loop."""
    process = AsyncCrawlerProcess({
        "TWISTED_REACTOR": TWISTED_REACTOR, "ASYNCIO_EVENT_LOOP": EVENT_LOOP,
        "DOWNLOAD_HANDLERS": {"http": f"{__name__}.MemoryHandler"},
        "DOWNLOADER_MIDDLEWARES_BASE": {}, "SPIDER_MIDDLEWARES_BASE": {}, "EXTENSIONS_BASE": {},
        "CONCURRENT_REQUESTS": concurrency, "CONCURRENT_ITEMS": 1, "ROBOTSTXT_OBEY": False,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter", "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
    })
    logging.getLogger("scrapy").setLevel(logging.ERROR)
    process.crawl(NullSpider, requests=requests)
    before = cpu_seconds()
    process.start()
    cpu = cpu_seconds() - before
    click.echo(f"Scrapy alone: {requests:,} requests, {cpu:.2f} s CPU, "
               f"{cpu / requests * 1000:.3f} ms per request (concurrency {concurrency})")


if __name__ == "__main__":
    main()
