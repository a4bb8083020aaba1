"""The crawl behind ``lifeboat crawl`` (whose body is ``cli/crawl.py``): plan the walks,
open the job directory, run Scrapy, say how the run ended (``CrawlOutcome``).

Re-running on the same directory resumes: finished IDs are skipped, ``failed`` and
``queued`` ones are fetched again, a WARC torn by a kill is repaired first.

SIGINT (Ctrl-C) or SIGTERM stops the crawl cleanly: no new request goes out, the ones in
flight are answered and recorded, every row is committed, and the command says where each
walk stopped and exits 130 (SIGINT) or 143 (SIGTERM). A second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote

from archive.job import Job
from spiders.profile import IdRange, ItemType, Profile, override_ids
from spiders.settings import lifeboat_version, user_agent

if TYPE_CHECKING:
    from scrapy.crawler import AsyncCrawlerProcess, Crawler

logger = logging.getLogger(__name__)


def plan_walks(profile: Profile, ids: str | None) -> list[tuple[ItemType, IdRange]]:
    """The (item type, ID range) pairs to walk; ``--ids`` replaces every walk's range.

    Several walks share one ID space on platforms like Elgg (blogs and files by GUID).
    """
    return [(item, override_ids(item.ids, ids) if ids else item.ids) for item in profile.walks]


def warcinfo_fields(profile: Profile) -> dict[str, str]:
    """What every WARC file's warcinfo record says about the crawl."""
    return {
        "software": f"lifeboat/{lifeboat_version()} (warcio, Scrapy)",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                      "warc-format/warc-1.1/",
        "isPartOf": profile.name,
        "description": profile.description,
        "operator": profile.contact,
        "http-header-user-agent": user_agent(profile.contact),
        "robots": "obey" if profile.politeness["obey_robots"] else "ignore (profile setting)",
        "json-metadata": json.dumps({"profile": profile.name, "variables": profile.variables}),
    }


def crawler_process(settings: dict) -> AsyncCrawlerProcess:
    """Scrapy's process for a crawl or a worker, its loggers cut at ``LOG_LEVEL``.

    Scrapy sets its own logger to DEBUG and filters by level only at its log handler:
    without the cut, the DEBUG lines of every response are still built, then dropped (and
    ``spiders.log_formatter`` would build the "Crawled" line)."""
    from scrapy.crawler import AsyncCrawlerProcess

    process = AsyncCrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL", "INFO"))
    # a log line that cannot be written (the disk is full) is dropped, not printed to
    # stderr with a traceback each time: the job says what happened once (Job.failure)
    logging.raiseExceptions = False
    return process


def stop_crawler_on_failure(job: Job, crawler: Crawler) -> None:
    """When the job can write no more (disk full), close the spider at once: nothing new
    is sent; what is still in flight is dropped by the job."""

    def stop(what: str) -> None:
        if crawler.engine is None or not crawler.crawling:
            return
        try:
            asyncio.ensure_future(crawler.engine.close_spider_async(reason=what))
        except RuntimeError:  # no event loop running any more: the crawl is over anyway
            pass

    job.on_stop.append(stop)


EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number


class StopOnSignal:
    """While entered: the first SIGINT / SIGTERM stops ``process`` cleanly (Scrapy's engine
    closes the spider: nothing new is sent, requests in flight finish), a second one stops
    the event loop at once. ``signum`` is the first signal received, or None."""

    def __init__(self, process: AsyncCrawlerProcess):
        self.process = process
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        for signum in EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._received)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _received(self, signum: int, _frame: object) -> None:
        from twisted.internet import reactor

        # no logging or awaiting in a signal handler: hand both to the event loop
        if self.signum is None:
            self.signum = signum
            reactor.callFromThread(self._stop, signum)
        else:
            reactor.callFromThread(self._stop_now, signum)

    def _stop(self, signum: int) -> None:
        logger.info("received %s: stopping after the requests in flight (send it again to "
                    "stop at once)", signal.Signals(signum).name)
        asyncio.ensure_future(self.process.stop())

    def _stop_now(self, signum: int) -> None:
        from twisted.internet import reactor

        logger.warning("received %s again: stopping at once", signal.Signals(signum).name)
        if reactor.running:
            reactor.stop()


@dataclass
class CrawlOutcome:
    """How one crawl run ended: ``outcome`` as recorded in crawl_runs, the exit code, the
    lines that say where each unfinished walk stopped, the WARC repairs made first."""

    outcome: str = "finished"
    exit_code: int = 0
    stopped: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    failure: str | None = None  # the job's one line when a write failed for good
    seals: str | None = None  # what the sealer did, with --tsa


def item_locator(profile: Profile) -> Callable[[str], list[tuple[str, str]]]:
    """URL -> every (item type, ID) whose URL it is by the profile's templates (a media URL
    is its own ID); the job asks it which items to fetch again after losing WARC records."""
    patterns = []
    for item in profile.items.values():
        if item.url == "{id}":
            patterns.append((item.name, None))
        elif "{id}" in item.url:
            head, _, tail = item.url.partition("{id}")
            patterns.append((item.name, re.compile(re.escape(head) + "(.+?)" + re.escape(tail))))

    def locate(url: str) -> list[tuple[str, str]]:
        found = []
        for name, pattern in patterns:
            if pattern is None:
                found.append((name, url))
            elif (match := pattern.fullmatch(url)) is not None:
                found.append((name, unquote(match[1])))
        return found

    return locate


def walk_ranges(walks: list[tuple[ItemType, IdRange]]) -> list[dict[str, str]]:
    """The walks as crawl_runs records them (IDs as the platform writes them)."""
    return [{"item_type": item.name, "first": id_range.render(id_range.start),
             "last": id_range.render(id_range.stop)} for item, id_range in walks]


def stop_lines(walks: list[tuple[ItemType, IdRange]], points: dict[str, str | None]
               ) -> list[str]:
    """``stopped at ID X of A..B: rerun the same command to resume`` for each walk that had
    not reached its end (named when there are several); X is where the rerun picks up."""
    lines = []
    for item, id_range in walks:
        if item.name not in points:
            continue
        span = f"{id_range.render(id_range.start)}..{id_range.render(id_range.stop)}"
        point = points[item.name]
        where = f"at ID {point}" if point is not None else "before its first ID"
        name = f"{item.name} walk " if len(walks) > 1 else ""
        lines.append(f"{name}stopped {where} of {span}: rerun the same command to resume")
    return lines or ["stopped after every walk reached its end, before every item found on "
                     "the way was fetched: rerun the same command to resume"]


def run_crawl(profile: Profile, job_dir: Path, walks: list[tuple[ItemType, IdRange]],
              settings: dict, warc_max_size: int, tsas: tuple[str, ...] = (),
              retry_failed: bool = False) -> CrawlOutcome:
    """Run one Scrapy crawl into ``job_dir``; says how it ended (``CrawlOutcome``).

    With ``tsas``, each WARC file is sealed (``archive.seal.WarcSealer``) as it is closed."""
    from spiders.idwalk import IdWalkSpider

    process = crawler_process(settings)
    if not profile.politeness["obey_robots"]:
        logger.warning("robots.txt is NOT obeyed: profile %s sets politeness.obey_robots = false",
                       profile.name)
    job = Job(job_dir, profile.name, warc_max_size, warcinfo_fields(profile))
    job.locate = item_locator(profile)
    job.open()
    result = CrawlOutcome(repairs=job.repairs)
    points: dict[str, str | None] = {}
    sealer = None
    try:
        if tsas:
            from archive.seal import WarcSealer

            sealer = WarcSealer(job_dir, list(tsas))
            job.writer.on_close.append(sealer.warc_closed)
        job.begin_run(walk_ranges(walks))
        crawler = process.create_crawler(IdWalkSpider)
        stop_crawler_on_failure(job, crawler)
        process.crawl(crawler, profile=profile, job=job, walks=walks, retry_failed=retry_failed)
        with StopOnSignal(process) as stop:
            process.start(install_signal_handlers=False)
        if job.failure is not None:
            result.outcome, result.exit_code, result.failure = "failed", 1, job.failure
        elif stop.signum is not None:
            spider = crawler.spider
            points = spider.resume_points() if spider is not None else {}
            name = signal.Signals(stop.signum).name
            result.outcome, result.exit_code = f"stopped by {name}", EXIT_CODES[stop.signum]
            result.stopped = stop_lines(walks, points)
    finally:
        job.close(result.outcome, {k: v for k, v in points.items() if v is not None})
        if sealer is not None and job.failure is None:
            result.seals = seals_line(sealer.close(), job_dir)
    result.failure = job.failure  # also when closing the job was what failed
    if result.failure is not None:
        result.exit_code = 1
    return result


def seals_line(results: list, job_dir: Path) -> str:
    """One line on what the crawl's sealer did (seals/seals.log has every attempt)."""
    manifests = sum(1 for r in results if r.files)
    tokens = sum(len(r.tokens) for r in results)
    from archive.seal import SealBook

    queued = len(SealBook(job_dir).pending())
    line = f"seals: {manifests} WARC file(s) sealed, {tokens} time-stamp token(s) written"
    if queued:
        line += (f", {queued} token(s) queued (no answer from the TSA): "
                 f"`lifeboat seal {job_dir}` or the next crawl run asks again")
    return line
