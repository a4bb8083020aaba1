"""``lifeboat seed`` and ``lifeboat crawl --redis``: one walk spread over many machines.

The coordinator runs Redis and seeds the walk as ID chunks (``spiders.chunks``); every
worker runs ``lifeboat crawl PROFILE --redis URL --worker NAME --out DIR``, claims chunks
until none are left, and writes its own shard job directory (WARCs named after the
worker, ``archive.db``). ``lifeboat merge`` (``archive.merge``) joins the shards.
scrapy-redis provides the blocking Redis connection (``REDIS_URL``: seeding, checks, the
last report), redis.asyncio the worker's awaited one (``spiders.worker``). Each worker
keeps Scrapy's in-memory scheduler, because scrapy-redis' Scheduler costs two blocking
Redis round trips per request (bench/README.md, section 6) and the leased chunks, not the
per-worker request queue, are what survives a crash.
Politeness is shared through Redis too (``spiders.shared_politeness``).
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from scrapy import signals

from spiders.chunks import AsyncChunkQueue, ChunkQueue, connect, connect_async
from spiders.exceptions import BadOption, NothingSeeded
from spiders.profile import Profile, find_profile, load_profile, parse_size, parse_var_options
from spiders.run import (EXIT_CODES, CrawlOutcome, StopOnSignal, crawler_process,
                         item_locator, plan_walks, stop_crawler_on_failure, warcinfo_fields)
from spiders.settings import crawl_settings

DEFAULT_CHUNK = 1000
DEFAULT_LEASE = 60.0


def redacted(url: str) -> str:
    """``url`` without a password, for files and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def profile_name(name_or_path: str) -> str:
    """The ``name`` a profile declares (the Redis keys are named after it)."""
    data = tomllib.loads(find_profile(name_or_path).read_text(encoding="utf-8"))
    return str(data.get("name") or Path(name_or_path).stem)


def open_queue(profile: str, redis_url: str) -> ChunkQueue:
    return ChunkQueue(connect(redis_url), profile_name(profile))


def worker_settings(profile: Profile, job_dir: Path, concurrency: int | None,
                    redis_url: str) -> dict[str, Any]:
    """``crawl_settings`` plus the Redis connection and shared politeness."""
    settings = crawl_settings(profile, job_dir, concurrency)
    settings.update({
        "REDIS_URL": redis_url,
        "LIFEBOAT_PROFILE_NAME": profile.name,
        "LIFEBOAT_PROGRESS": False,
        "DOWNLOADER_MIDDLEWARES": {
            **settings["DOWNLOADER_MIDDLEWARES"],
            # request path runs low to high: wait for a shared pause before the retry
            # middleware logs the send; response path high to low: see 429s before it
            "spiders.shared_politeness.SharedPauseWait": 640,
            "spiders.shared_politeness.SharedPauseRecord": 660,
        },
    })
    return settings


def run_worker(profile: Profile, job_dir: Path, settings: dict, warc_max_size: int,
               queue: ChunkQueue, worker: str,
               say: Callable[[str], None] = lambda message: None) -> CrawlOutcome:
    """Run one worker until the walk is done (or a SIGINT / SIGTERM stops it cleanly, or
    the disk fills up); says how it ended: the WARC repairs made first, the exit code (0,
    130 / 143, or 1 after a failed write, whose line is ``failure``). ``say`` gets each
    line for the operator (chunks claimed and done), which is also logged."""
    from archive.job import Job
    from spiders.idwalk import IdWalkSpider
    from spiders.worker import ChunkSource, ChunkTracker, CommitReporter, worker_prefix

    def tell(message: str) -> None:
        logging.getLogger("spiders.worker").info("%s", message)
        say(message)

    tracker = ChunkTracker()
    info = {**warcinfo_fields(profile), "lifeboat-worker": worker}
    job = Job(job_dir, profile.name, warc_max_size, info, prefix=worker_prefix(job_dir, worker))
    job.locate = item_locator(profile)  # items whose WARC records were lost: fetched again
    job.open()
    try:
        on_loop = AsyncChunkQueue(connect_async(settings["REDIS_URL"]), queue.profile)
        reporter = CommitReporter(on_loop, tracker)
        reporter.attach(job.store)
        source = ChunkSource(on_loop, worker, tracker, reporter, tell)
        process = crawler_process(settings)
        crawler = process.create_crawler(IdWalkSpider)
        crawler.signals.connect(source.opened, signal=signals.spider_opened)
        crawler.signals.connect(source.closed, signal=signals.spider_closed)
        stop_crawler_on_failure(job, crawler)
        process.crawl(crawler, profile=profile, job=job, walks=[], source=source,
                      name="lifeboat-worker")
        with StopOnSignal(process) as stop:
            process.start(install_signal_handlers=False)
    finally:
        job.close()
    if job.failure is None:  # committed as the job closed, after the event loop stopped
        reporter.report_rest(queue)
    if job.failure is not None:
        return CrawlOutcome("failed", 1, repairs=job.repairs, failure=job.failure)
    return CrawlOutcome(exit_code=EXIT_CODES[stop.signum] if stop.signum else 0,
                        repairs=job.repairs)


def seed_walk(profile: str, redis_url: str, ids: str | None, chunk: int, lease: float,
              variables: tuple[str, ...], reset: bool
              ) -> tuple[ChunkQueue, list[tuple[str, int, int, str]], int]:
    """Put ``profile``'s walk into Redis as chunks of ``chunk`` IDs; the queue, the walks
    (item type, first, last, order) and the number of chunks."""
    if chunk < 1:
        raise BadOption("--chunk must be at least 1")
    queue = open_queue(profile, redis_url)
    loaded = load_profile(profile, parse_var_options(variables))
    walks = [(item.name, r.start, r.stop, r.order) for item, r in plan_walks(loaded, ids)]
    total = queue.seed(walks, chunk, lease, loaded.variables, reset=reset)
    return queue, walks, total


def open_walk(profile: str, redis_url: str, variables: tuple[str, ...], warc_max_size: str
              ) -> tuple[ChunkQueue, Profile, int]:
    """A worker's view of the seeded walk: its queue, the profile with the seeded variables
    (``variables`` override them) and the WARC size limit in bytes."""
    queue = open_queue(profile, redis_url)
    meta = queue.meta()
    if not meta:
        raise NothingSeeded(f"nothing seeded for {queue.prefix}* in {redacted(redis_url)}: "
                            f"run lifeboat seed {profile} --redis URL first")
    seeded = json.loads(meta.get("vars") or "{}")
    loaded = load_profile(profile, {**seeded, **parse_var_options(variables)})
    return queue, loaded, parse_size(warc_max_size)
