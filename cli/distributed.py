"""`lifeboat seed` and `lifeboat crawl --redis`: one walk over many machines
(``spiders.distributed``), said to the operator."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import click

from archive.job import write_job_toml
from cli.crawl import echo_repairs, echo_summary, extract_after_crawl, job_fields
from spiders.distributed import open_walk, redacted, run_worker, seed_walk, worker_settings


def run_seed(profile: str, redis_url: str, ids: str | None, chunk: int, lease: float,
             variables: tuple[str, ...], reset: bool) -> None:
    """Seed the walk, then say how many chunks wait and how workers join."""
    queue, walks, total = seed_walk(profile, redis_url, ids, chunk, lease, variables, reset)
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
    """The body of ``lifeboat crawl PROFILE --redis URL``; exits 1, 130 or 143 as it ended."""
    worker = worker or socket.gethostname()
    queue, loaded, max_size = open_walk(profile, redis_url, variables, warc_max_size)
    job_dir = Path(job_dir)
    settings = worker_settings(loaded, job_dir, concurrency, redis_url)
    if dry_run:
        click.echo(f"worker {worker} of {queue.prefix}* in {redacted(redis_url)}: "
                   f"{json.dumps(queue.counts())}")
        click.echo(f"shard {job_dir} (WARC files rotate at {max_size} bytes)")
        return
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    write_job_toml(job_dir, {**job_fields(loaded, "", concurrency, max_size),
                             "worker": worker, "redis": redacted(redis_url)})

    def say(message: str) -> None:
        click.echo(f"lifeboat worker {worker}: {message}", err=True)

    outcome = run_worker(loaded, job_dir, settings, max_size, queue, worker, say)
    if outcome.failure is not None:  # a write failed for good: nothing more is opened
        click.echo(outcome.failure, err=True)
        echo_repairs(outcome.repairs, job_dir)
        raise SystemExit(outcome.exit_code)
    echo_repairs(outcome.repairs, job_dir)
    echo_summary(job_dir)
    click.echo(f"walk {queue.prefix}*: {json.dumps(queue.counts())}")
    if outcome.exit_code:
        click.echo(f"worker {worker} stopped: its chunks went back to the queue; rerun the "
                   "same command to resume", err=True)
        raise SystemExit(outcome.exit_code)
    if extract:
        extract_after_crawl(job_dir)
