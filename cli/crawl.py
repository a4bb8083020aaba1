"""`lifeboat crawl PROFILE --out DIR`: plan the walk, run it (``spiders.run``), report, extract."""

from __future__ import annotations

import json
from pathlib import Path

import click

from archive.job import write_job_toml
from archive.ledger import summary_after_crawl
from archive.schema import DB_NAME
from spiders.profile import Profile, load_profile, parse_size, parse_var_options
from spiders.run import plan_walks, run_crawl
from spiders.settings import crawl_settings, lifeboat_version


def run_crawl_command(profile: str, job_dir: Path, ids: str | None, variables: tuple[str, ...],
                      concurrency: int | None, warc_max_size: str, extract: bool,
                      dry_run: bool, tsas: tuple[str, ...] = (),
                      retry_failed: bool = False) -> None:
    """The body of ``lifeboat crawl`` (see crawl.py); exits 1, 130 or 143 as the crawl ended."""
    loaded = load_profile(profile, parse_var_options(variables))
    walks = plan_walks(loaded, ids)
    max_size = parse_size(warc_max_size)
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
    write_job_toml(job_dir, job_fields(loaded, ids or "", concurrency, max_size))
    outcome = run_crawl(loaded, job_dir, walks, settings, max_size, tsas, retry_failed)
    if outcome.seals is not None:
        click.echo(outcome.seals)
    echo_repairs(outcome.repairs, job_dir)
    if outcome.failure is not None:  # one line; nothing more is read or written
        click.echo(outcome.failure, err=True)
        raise SystemExit(outcome.exit_code)
    echo_summary(job_dir)
    if outcome.exit_code:
        for line in outcome.stopped:
            click.echo(line, err=True)
        raise SystemExit(outcome.exit_code)
    if extract:
        extract_after_crawl(job_dir)


def job_fields(profile: Profile, ids: str, concurrency: int | None, max_size: int) -> dict:
    """What job.toml records of this run's profile and settings."""
    return {"profile_name": profile.name, "profile_source": profile.source, "ids": ids,
            "concurrency": concurrency or 0, "warc_max_size": max_size,
            "lifeboat_version": lifeboat_version(), "profile_text": profile.text,
            "vars": profile.variables}


def echo_repairs(repairs: list[str], job_dir: Path) -> None:
    """One stderr line per WARC repaired before the crawl started."""
    for repair in repairs:
        click.echo(f"lifeboat: {repair} (logged in {job_dir / 'logs' / 'repairs.log'})", err=True)


def echo_summary(job_dir: Path) -> None:
    """The ledger summary of a finished (or stopped) crawl."""
    for line in summary_after_crawl(job_dir):
        click.echo(line)


def extract_after_crawl(job_dir: Path) -> None:
    """ExifTool over what the crawl archived; a missing ExifTool keeps the crawl and says how."""
    from archive.exceptions import DamagedDatabase
    from metadata.exceptions import MetadataError
    from metadata.extract import extract_job, summary

    try:
        result = extract_job(job_dir)
    except (MetadataError, DamagedDatabase) as exc:
        raise click.ClickException(
            f"the crawl is saved in {job_dir}, but metadata extraction could not run: "
            f"{exc}; then run `lifeboat extract {job_dir}`") from None
    click.echo(summary(result, job_dir / DB_NAME))
