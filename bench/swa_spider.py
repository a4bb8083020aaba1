"""The scrapy-webarchive peer: fetch every URL of a file, its WACZ exporter writing the WARC.

Runs inside its own venv (scrapy-webarchive pins Scrapy < 2.12; see bench/common.py), so
it imports nothing from lifeboat. Configured as scrapy-webarchive's docs say: the
``WaczExporter`` extension with ``SW_EXPORT_URI``. Every status is kept (like lifeboat and
wget, 404/403 answers are archived too); the callback does nothing else.

Usage: python bench/swa_spider.py URLS_FILE OUT_DIR CONCURRENCY
"""

import sys
from pathlib import Path

import scrapy
from scrapy.crawler import CrawlerProcess


class UrlListSpider(scrapy.Spider):
    name = "swa"

    def __init__(self, urls_file: str, **kwargs):
        super().__init__(**kwargs)
        self.urls_file = urls_file

    def start_requests(self):
        with open(self.urls_file, encoding="utf-8") as fh:
            for line in fh:
                url = line.strip()
                if url:
                    yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response):
        return None


def main() -> None:
    urls_file, out_dir, concurrency = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    out_dir.mkdir(parents=True, exist_ok=True)
    process = CrawlerProcess({
        "EXTENSIONS": {"scrapy_webarchive.extensions.WaczExporter": 543},
        "SW_EXPORT_URI": str(out_dir.resolve()) + "/",
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "HTTPERROR_ALLOW_ALL": True,
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    })
    process.crawl(UrlListSpider, urls_file=urls_file)
    process.start()


if __name__ == "__main__":
    main()
