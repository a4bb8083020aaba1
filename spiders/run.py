"""``lifeboat crawl``: load the profile, open the job directory, run the walk, extract.

Re-running on the same directory resumes: finished IDs are skipped, ``failed`` and
``queued`` ones are fetched again, a WARC torn by a kill is repaired first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from archive.exceptions import JobLocked, JobMismatch
from archive.job import Job, write_job_toml
from archive.ledger import summarize
from spiders.profile import (IdRange, ItemType, Profile, ProfileError, load_profile,
                             override_ids, parse_size, parse_var_options)
from spiders.settings import crawl_settings, lifeboat_version, user_agent

if TYPE_CHECKING:
    from scrapy.crawler import AsyncCrawlerProcess

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
    return process


def run_crawl(profile: Profile, job_dir: Path, walks: list[tuple[ItemType, IdRange]],
              settings: dict, warc_max_size: int, tsas: tuple[str, ...] = ()) -> list[str]:
    """Run one Scrapy crawl into ``job_dir``; returns the repairs made before it started.

    With ``tsas``, each WARC file is sealed (``archive.seal.WarcSealer``) as it is closed."""
    from spiders.idwalk import IdWalkSpider

    process = crawler_process(settings)
    if not profile.politeness["obey_robots"]:
        logger.warning("robots.txt is NOT obeyed: profile %s sets politeness.obey_robots = false",
                       profile.name)
    job = Job(job_dir, profile.name, warc_max_size, warcinfo_fields(profile)).open()
    sealer = None
    try:
        if tsas:
            from archive.seal import WarcSealer

            sealer = WarcSealer(job_dir, list(tsas))
            job.writer.on_close.append(sealer.warc_closed)
        process.crawl(IdWalkSpider, profile=profile, job=job, walks=walks)
        process.start()
    finally:
        job.close()
        if sealer is not None:
            report_seals(sealer.close(), job_dir)
    return job.repairs


def report_seals(results: list, job_dir: Path) -> None:
    """One line on what the crawl's sealer did (seals/seals.log has every attempt)."""
    manifests = sum(1 for r in results if r.files)
    tokens = sum(len(r.tokens) for r in results)
    from archive.seal import SealBook

    queued = len(SealBook(job_dir).pending())
    line = f"seals: {manifests} WARC file(s) sealed, {tokens} time-stamp token(s) written"
    if queued:
        line += (f", {queued} token(s) queued (TSA unreachable): `lifeboat seal {job_dir}` "
                 "or the next crawl run asks again")
    click.echo(line)


def run_crawl_command(profile: str, job_dir: Path, ids: str | None, variables: tuple[str, ...],
                      concurrency: int | None, warc_max_size: str, extract: bool,
                      dry_run: bool, tsas: tuple[str, ...] = ()) -> None:
    """The body of ``lifeboat crawl`` (see crawl.py)."""
    try:
        loaded = load_profile(profile, parse_var_options(variables))
        walks = plan_walks(loaded, ids)
        max_size = parse_size(warc_max_size)
    except (ProfileError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    job_dir = Path(job_dir)
    settings = crawl_settings(loaded, job_dir, concurrency)
    if dry_run:
        click.echo(f"profile {loaded.name} ({loaded.source})")
        click.echo(f"variables {json.dumps(loaded.variables)}")
        for item, id_range in walks:
            click.echo(f"walk {item.name}: {id_range.render(id_range.start)}.."
                       f"{id_range.render(id_range.stop)} ({len(id_range)} IDs, {id_range.order})"
                       f" -> {item.url}")
        click.echo(f"allowed hosts {', '.join(loaded.allowed_hosts)}")
        click.echo(f"job directory {job_dir} (WARC files rotate at {max_size} bytes)")
        if tsas:
            click.echo(f"each WARC file sealed when closed, time-stamped by {', '.join(tsas)}")
        for key in sorted(settings):
            if key.isupper() and not isinstance(settings[key], dict):
                click.echo(f"  {key} = {settings[key]!r}")
        click.echo(f"the profile's syntax is valid; to see what its expressions make of a real "
                   f"answer: lifeboat try {profile} ID --var ...")
        return
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    try:
        write_job_toml(job_dir, {
            "profile_name": loaded.name, "profile_source": loaded.source,
            "ids": ids or "", "concurrency": concurrency or 0, "warc_max_size": max_size,
            "lifeboat_version": lifeboat_version(), "profile_text": loaded.text,
            "vars": loaded.variables,
        })
    except JobMismatch as exc:
        raise click.ClickException(str(exc)) from None
    try:
        repairs = run_crawl(loaded, job_dir, walks, settings, max_size, tsas)
    except JobLocked as exc:
        raise click.ClickException(str(exc)) from None
    for repair in repairs:
        click.echo(f"lifeboat: {repair} (logged in {job_dir / 'logs' / 'repairs.log'})", err=True)
    from metadata.schema import open_db

    # the crawl is over: opening the archive now builds the indexes its readers use
    for line in summarize(open_db(job_dir / "archive.db")):
        click.echo(line)
    if extract:
        extract_after_crawl(job_dir)


def extract_after_crawl(job_dir: Path) -> None:
    """ExifTool over what the crawl archived; a missing ExifTool keeps the crawl and says how."""
    from metadata.exceptions import MetadataError
    from metadata.extract import extract_job, summary

    try:
        result = extract_job(job_dir)
    except MetadataError as exc:
        raise click.ClickException(
            f"the crawl is saved in {job_dir}, but metadata extraction could not run: "
            f"{exc}; then run `lifeboat extract {job_dir}`") from None
    click.echo(summary(result, job_dir / "archive.db"))
