"""`lifeboat demo`: the whole pipeline against the bundled demo platform, end to end."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import click


def default_job_dir() -> Path:
    """A fresh job directory under ./jobs/, named by the UTC time."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("jobs") / f"demo-{stamp}"


def follow_up_commands(job_dir: Path, port: int, serving: bool) -> list[str]:
    """The exact commands that look at ``job_dir`` next, for a person to paste."""
    job = shlex.quote(str(job_dir))
    lines = []
    if sys.prefix != sys.base_prefix:  # lifeboat runs from a virtual environment
        lines.append(f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
                     "    # in a new terminal first")
    lines += [f"lifeboat status {job}",
              f"lifeboat export {job} --format csv -o demo-media.csv"
              + (f" --base-url http://127.0.0.1:{port}" if port != 8001 else ""),
              f"lifeboat verify {job} && lifeboat pack {job}"]
    if not serving:
        lines.append(f"lifeboat serve {job} --port {port}")
    return lines


def run_demo(posts: int, seed: int, out: Path | None, port: int, serve: bool) -> Path:
    """Start the demo platform (``python -m demo serve``, a foreign server), crawl it into
    ``out``, extract metadata, then serve it."""
    from demo.server import start_demo
    from cli.crawl import run_crawl_command

    job_dir = out or default_job_dir()
    click.echo(f"lifeboat demo: starting the demo platform ({posts} posts, seed {seed})")
    with start_demo(posts=posts, seed=seed) as platform:
        click.echo(f"  API {platform.api}  media {platform.media}")
        run_crawl_command(
            profile="demo", job_dir=job_dir, ids=f"1-{posts}",
            variables=(f"api={platform.api}", f"media={platform.media}"),
            concurrency=None, warc_max_size="1GB", extract=True, dry_run=False,
        )
    click.echo(f"lifeboat demo: job directory {job_dir}")
    click.echo("lifeboat demo: look at it with" + (" (while this serves)" if serve else ""))
    for line in follow_up_commands(job_dir, port, serving=serve):
        click.echo(f"  {line}")
    if serve:
        from cli.serve import run_serve

        click.echo(f"lifeboat demo: open http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        run_serve(job_dir, host="127.0.0.1", port=port)
    return job_dir
