"""`lifeboat seal DIR`: seal (``archive.seal``), then say what each TSA answered."""

from __future__ import annotations

from pathlib import Path

import click

from archive.seal import SEALS, describe, seal_job


def run_seal(job_dir: Path, tsas: tuple[str, ...], timeout: float) -> int:
    """Seal, print what was sealed and the commands that check it; 1 if a token is queued."""
    result, retried = seal_job(job_dir, list(tsas), timeout)
    queued = 0
    for each in retried + ([result] if result else []):
        for line in describe(each, job_dir):
            click.echo(line)
        queued += len(each.queued)
    if result:
        name = result.manifest.name
        manifest = job_dir / SEALS / name
        click.echo(f"check: (cd {job_dir / 'warc'} && sha256sum -c ../{SEALS}/{name})")
        for path, _ in result.tokens:
            click.echo(f"       openssl ts -verify -data {manifest} -in {path} -CAfile TSA-CA.pem")
    return 1 if queued else 0
