"""`lifeboat pack DIR`: pack (``archive.pack``), then say what was written."""

from __future__ import annotations

from pathlib import Path

import click

from archive.pack import pack_job


def run_pack(job_dir: Path, sign_url: str | None, sign_token: str | None) -> None:
    """Write the CDXJ index and the WACZ, and print where they are and how to check them."""
    result = pack_job(job_dir, sign_url=sign_url, sign_token=sign_token)
    click.echo(f"index: {result.cdxj} ({result.cdxj_lines} lines from {result.warcs} WARC files)")
    kind = "one per archived post" if result.pages_are_posts else "HTML pages detected"
    click.echo(f"WACZ:  {result.wacz} ({result.wacz.stat().st_size / 1e6:.1f} MB, "
               f"{result.pages} pages: {kind})")
    if result.signed_by:
        click.echo(f"signed: by {result.signed_by} (authsign at {sign_url}), "
                   f"time-stamped {result.signed_at}")
        click.echo(f"check: wacz validate -f {result.wacz} --verify-auth")
    else:
        click.echo(f"check: wacz validate -f {result.wacz}")
