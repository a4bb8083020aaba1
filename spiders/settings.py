"""Scrapy settings for lifeboat crawls: fixed choices here, the rest from the profile.

``scrapy.cfg`` points at this module; ``crawl_settings()`` builds the full settings of one
crawl. Unused middlewares and extensions are off (performance), cookies and redirects
are handled explicitly (public endpoints only, login redirects are ``forbidden``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from spiders.profile import Profile

BOT_NAME = "lifeboat"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# uvloop's C event loop under the asyncio reactor: less CPU per archived record
# (bench/README.md, section 1); asyncio's own loop where uvloop is not installed
EVENT_LOOP = "uvloop.Loop" if find_spec("uvloop") else None


def lifeboat_version() -> str:
    try:
        return version("lifeboat")
    except PackageNotFoundError:
        return "0+unknown"


def user_agent(contact: str) -> str:
    """An honest User-Agent: what we are and how to reach the operator."""
    return f"lifeboat/{lifeboat_version()} (web archiving; +{contact})"


# Scrapy imports every component its *_BASE settings name, disabled ones too (RemoteControl
# brings aiohttp, CookiesMiddleware tldextract: start-up time of every crawl), so lifeboat
# names exactly the Scrapy components it runs. Left out on purpose: offsite (the spider
# keeps to the profile's scope), HTTP auth (never credentials), Scrapy's retry (lifeboat's
# PoliteRetryMiddleware instead), redirects and meta refresh (the spider follows them, login
# redirects end `forbidden`), cookies, proxies, DownloaderStats (byte counts nobody reads),
# the HTTP cache; spider side: referer, depth, HttpError (every status reaches the spider:
# handle_httpstatus_all), MetaCopyDetection (a development aid); extensions: telnet, memory
# usage and debugging, feed export, spider state, CloseSpider, RemoteControl, AutoThrottle
# (IdWalkThrottle instead), LogStats (its "scraped N items" would say 0: results go to the
# row store, not through Scrapy items; the progress bar and `lifeboat status` tell progress).
DOWNLOADER_MIDDLEWARES_BASE = {
    "spiders.robots.RobotsTxtFirstMiddleware": 100,  # Scrapy's, every waiter served
    "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware": 350,
    "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware": 400,
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": 500,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": 590,
}

DOWNLOADER_MIDDLEWARES = {
    # response path runs from high to low: capture (660) archives every answer as it
    # came (retried ones too), retry (650) only lets final answers through, then
    # HttpCompression (590) decodes the body
    "spiders.capture.CaptureMiddleware": 660,
    "spiders.middlewares.PoliteRetryMiddleware": 650,
}

SPIDER_MIDDLEWARES_BASE = {
    "scrapy.spidermiddlewares.start.StartSpiderMiddleware": 25,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": 800,
}

EXTENSIONS_BASE = {
    "scrapy.extensions.corestats.CoreStats": 0,
    "scrapy.extensions.logcount.LogCount": 0,
}

EXTENSIONS = {
    "spiders.throttle.IdWalkThrottle": 0,  # AutoThrottle that 404s may speed up
    "spiders.progress.ProgressBar": 500,
}


def crawl_settings(profile: Profile, job_dir: Path, concurrency: int | None) -> dict[str, Any]:
    """Every Scrapy setting of one crawl of ``profile`` into ``job_dir``."""
    polite = profile.politeness
    total = concurrency or polite["concurrency"]
    per_host = concurrency or polite["concurrency_per_host"]
    return {
        "BOT_NAME": BOT_NAME,
        "TWISTED_REACTOR": TWISTED_REACTOR,
        "ASYNCIO_EVENT_LOOP": EVENT_LOOP,
        "USER_AGENT": user_agent(profile.contact),
        # only the encodings warcio reads back (Scrapy would offer br and zstd too: with
        # them, `warcio check` and every WARC reader choke on the archived answers)
        "DEFAULT_REQUEST_HEADERS": {"Accept": "application/json, */*;q=0.5",
                                    "Accept-Language": "en", "Accept-Encoding": "gzip, deflate"},
        "ROBOTSTXT_OBEY": polite["obey_robots"],
        "CONCURRENT_REQUESTS": total,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "CONCURRENT_ITEMS": 1,
        "AUTOTHROTTLE_ENABLED": polite["autothrottle"],
        "AUTOTHROTTLE_START_DELAY": polite["start_delay"],
        "AUTOTHROTTLE_MAX_DELAY": polite["max_delay"],
        # an explicit --concurrency N asks for N requests in flight, also under AutoThrottle
        "AUTOTHROTTLE_TARGET_CONCURRENCY": concurrency or polite["target_concurrency"],
        "DOWNLOAD_DELAY": polite["download_delay"],
        "DOWNLOAD_TIMEOUT": polite["timeout"],
        "DOWNLOAD_MAXSIZE": max(polite["max_json_size"], polite["max_media_size"]),
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": polite["retry_times"],
        "LIFEBOAT_BACKOFF_BASE": polite["backoff_base"],
        "LIFEBOAT_BACKOFF_MAX": polite["backoff_max"],
        "LIFEBOAT_RETRY_AFTER_MAX": polite["retry_after_max"],
        "LIFEBOAT_OTHER_MAXSIZE": polite["max_json_size"],  # robots.txt (spiders.middlewares)
        "COOKIES_ENABLED": False,
        "REDIRECT_ENABLED": False,
        "REFERER_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": True,
        "URLLENGTH_LIMIT": 8192,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        # asyncio + llhttp instead of Twisted's HTTP client: less CPU per request
        "DOWNLOAD_HANDLERS": {"http": "spiders.http_handler.LeanHttpDownloadHandler",
                              "https": "spiders.http_handler.LeanHttpDownloadHandler"},
        "DOWNLOADER_MIDDLEWARES_BASE": DOWNLOADER_MIDDLEWARES_BASE,
        "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
        "SPIDER_MIDDLEWARES_BASE": SPIDER_MIDDLEWARES_BASE,
        "EXTENSIONS_BASE": EXTENSIONS_BASE,
        "EXTENSIONS": EXTENSIONS,
        "TELNETCONSOLE_ENABLED": False,
        # large media bodies wait for the WARC in unnamed files beside it, not in memory
        "LIFEBOAT_SPOOL_DIR": str(job_dir / "warc"),
        "LOG_FILE": str(job_dir / "logs" / "crawl.log"),
        "LOG_FILE_APPEND": True,
        "LOG_LEVEL": "INFO",
        "LOG_FORMATTER": "spiders.log_formatter.QuietLogFormatter",
        # its check parses the callback's source on every response (bound methods miss its cache)
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
    }
