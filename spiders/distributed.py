"""``lifeboat seed`` and ``lifeboat crawl --redis``: one walk spread over many machines.

The coordinator runs Redis and seeds the walk as ID chunks (``spiders.chunks``); every
worker runs ``lifeboat crawl PROFILE --redis URL --worker NAME --out DIR``, claims chunks
until none are left, and writes its own shard job directory (WARCs named after the
worker, ``archive.db``). ``lifeboat merge`` (``archive.merge``) joins the shards.
scrapy-redis provides the Redis connection (``REDIS_URL``); each worker keeps Scrapy's
in-memory scheduler, because scrapy-redis' Scheduler costs two blocking Redis round trips
per request (bench/README.md, section 6) and the leased chunks, not the per-worker request
queue, are what survives a crash.
Politeness is shared through Redis too (``spiders.shared_politeness``).
"""

from __future__ import annotations

import json
import logging
import socket
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from scrapy import signals

from archive.exceptions import JobMismatch
from archive.job import write_job_toml
from archive.ledger import summary_after_crawl
from spiders.chunks import AsyncChunkQueue, ChunkQueue, SeedMismatch, connect, connect_async
from spiders.profile import (Profile, ProfileError, find_profile, load_profile, parse_size,
                             parse_var_options)
from spiders.run import (EXIT_CODES, StopOnSignal, crawler_process, item_locator,
                         plan_walks, stop_crawler_on_failure, warcinfo_fields)
from spiders.settings import crawl_settings, lifeboat_version

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
               queue: ChunkQueue, worker: str) -> tuple[list[str], int]:
    """Run one worker until the walk is done (or a SIGINT / SIGTERM stops it cleanly, or
    the disk fills up); returns the WARC repairs made first and the exit code (0, 130 /
    143, or 1 after a failed write, whose line is printed here)."""
    from archive.job import Job
    from spiders.idwalk import IdWalkSpider
    from spiders.worker import ChunkSource, ChunkTracker, CommitReporter, worker_prefix

    def say(message: str) -> None:
        logging.getLogger("spiders.worker").info("%s", message)
        click.echo(f"lifeboat worker {worker}: {message}", err=True)

    tracker = ChunkTracker()
    info = {**warcinfo_fields(profile), "lifeboat-worker": worker}
    job = Job(job_dir, profile.name, warc_max_size, info, prefix=worker_prefix(job_dir, worker))
    job.locate = item_locator(profile)  # items whose WARC records were lost: fetched again
    job.open()
    try:
        on_loop = AsyncChunkQueue(connect_async(settings["REDIS_URL"]), queue.profile)
        reporter = CommitReporter(on_loop, tracker)
        reporter.attach(job.store)
        source = ChunkSource(on_loop, worker, tracker, reporter, say)
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
        click.echo(job.failure, err=True)
        return job.repairs, 1
    return job.repairs, EXIT_CODES[stop.signum] if stop.signum else 0


def run_seed_command(profile: str, redis_url: str, ids: str | None, chunk: int,
                     lease: float, variables: tuple[str, ...], reset: bool) -> None:
    """The body of ``lifeboat seed`` (see crawl.py)."""
    if chunk < 1:
        raise click.ClickException("--chunk must be at least 1")
    try:
        queue = open_queue(profile, redis_url)
        loaded = load_profile(profile, parse_var_options(variables))
        walks = [(item.name, r.start, r.stop, r.order) for item, r in plan_walks(loaded, ids)]
        total = queue.seed(walks, chunk, lease, loaded.variables, reset=reset)
    except (ProfileError, ValueError, FileNotFoundError, ConnectionError, SeedMismatch) as exc:
        raise click.ClickException(str(exc)) from None
    for item_type, first, last, _order in walks:
        click.echo(f"walk {item_type}: {first}..{last} ({last - first + 1} IDs)")
    counts = queue.counts()
    click.echo(f"{total} chunks of up to {chunk} IDs in {redacted(redis_url)} "
               f"({queue.prefix}*): {counts['pending']} pending, {counts['leased']} leased, "
               f"{counts['done']} done; lease {lease:g} s")
    click.echo(f"start workers with: lifeboat crawl {profile} --redis {redacted(redis_url)} "
               "--worker NAME --out DIR")


def run_worker_command(profile: str, job_dir: Path, redis_url: str, worker: str | None,
                       variables: tuple[str, ...], concurrency: int | None,
                       warc_max_size: str, extract: bool, dry_run: bool) -> None:
    """The body of ``lifeboat crawl PROFILE --redis URL`` (see crawl.py)."""
    worker = worker or socket.gethostname()
    try:
        queue = open_queue(profile, redis_url)
        meta = queue.meta()
        if not meta:
            raise ValueError(f"nothing seeded for {queue.prefix}* in {redacted(redis_url)}: "
                             f"run lifeboat seed {profile} --redis URL first")
        seeded = json.loads(meta.get("vars") or "{}")
        loaded = load_profile(profile, {**seeded, **parse_var_options(variables)})
        max_size = parse_size(warc_max_size)
    except (ProfileError, ValueError, FileNotFoundError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    job_dir = Path(job_dir)
    settings = worker_settings(loaded, job_dir, concurrency, redis_url)
    if dry_run:
        click.echo(f"worker {worker} of {queue.prefix}* in {redacted(redis_url)}: "
                   f"{json.dumps(queue.counts())}")
        click.echo(f"shard {job_dir} (WARC files rotate at {max_size} bytes)")
        return
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    try:
        write_job_toml(job_dir, {
            "profile_name": loaded.name, "profile_source": loaded.source, "ids": "",
            "concurrency": concurrency or 0, "warc_max_size": max_size,
            "lifeboat_version": lifeboat_version(), "profile_text": loaded.text,
            "worker": worker, "redis": redacted(redis_url), "vars": loaded.variables,
        })
    except JobMismatch as exc:
        raise click.ClickException(str(exc)) from None
    repairs, exit_code = run_worker(loaded, job_dir, settings, max_size, queue, worker)
    for repair in repairs:
        click.echo(f"lifeboat: {repair} (logged in {job_dir / 'logs' / 'repairs.log'})", err=True)
    if exit_code == 1:  # a write failed for good (said above): nothing more is opened
        raise SystemExit(exit_code)
    for line in summary_after_crawl(job_dir):
        click.echo(line)
    click.echo(f"walk {queue.prefix}*: {json.dumps(queue.counts())}")
    if exit_code:
        click.echo(f"worker {worker} stopped: its chunks went back to the queue; rerun the "
                   "same command to resume", err=True)
        raise SystemExit(exit_code)
    if extract:
        from cli.crawl import extract_after_crawl

        extract_after_crawl(job_dir)
