"""lifeboat's command line: one click group, thin commands over the packages.

Installed as the ``lifeboat`` command; ``python crawl.py ...`` is the same program.
Each command imports its package lazily so that ``lifeboat --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

job_dir_argument = click.argument(
    "job_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path)
)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="lifeboat")
def cli() -> None:
    """lifeboat: evacuate a platform's public posts and media before it goes dark.

    Walks public API endpoints by sequential ID into WARC files, extracts photo and
    video GPS / EXIF metadata with ExifTool into SQLite, and serves it with Datasette.
    """


@cli.command()
@click.option("--posts", default=500, show_default=True, help="Posts on the demo platform.")
@click.option("--seed", default=1, show_default=True, help="Seed of the demo platform.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Job directory (default: a fresh one under ./jobs/).")
@click.option("--port", default=8001, show_default=True, help="Datasette port on 127.0.0.1.")
@click.option("--no-serve", is_flag=True, help="Stop after the crawl and extraction.")
def demo(posts: int, seed: int, out: Path | None, port: int, no_serve: bool) -> None:
    """Start the demo platform, crawl it, extract metadata and serve Datasette.

    Example:

        lifeboat demo --posts 500
    """
    from demo.launch import run_demo

    run_demo(posts=posts, seed=seed, out=out, port=port, serve=not no_serve)


@cli.command()
@click.argument("profile")
@click.option("--out", "job_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="Job directory.")
@click.option("--ids", default=None, help="ID range A-B, overriding the profile's.")
@click.option("--var", "variables", multiple=True, metavar="K=V",
              help="Profile variable, e.g. --var api=http://127.0.0.1:8080 (repeatable).")
@click.option("--concurrency", type=int, default=None, help="Concurrent requests.")
@click.option("--warc-max-size", default="1GB", show_default=True,
              help="Rotate WARC files at this size (e.g. 500MB, 1GB).")
@click.option("--no-extract", is_flag=True, help="Skip ExifTool extraction after the crawl.")
@click.option("--dry-run", is_flag=True, help="Print the effective settings and stop.")
def crawl(profile: str, job_dir: Path, ids: str | None, variables: tuple[str, ...],
          concurrency: int | None, warc_max_size: str, no_extract: bool,
          dry_run: bool) -> None:
    """Walk PROFILE's endpoints into the job directory DIR (re-running resumes).

    PROFILE is a bundled profile name (see `lifeboat profiles`) or a TOML file.

    Example:

        lifeboat crawl demo --out jobs/demo --var api=http://127.0.0.1:8080 \\
            --var media=http://127.0.0.1:8081 --ids 1-500
    """
    from spiders.run import run_crawl_command

    run_crawl_command(profile=profile, job_dir=job_dir, ids=ids, variables=variables,
                      concurrency=concurrency, warc_max_size=warc_max_size,
                      extract=not no_extract, dry_run=dry_run)


@cli.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Database to fill from WARC files (instead of a job DIR).")
@click.option("--workers", type=int, default=None, help="ExifTool processes (default: cores).")
def extract(paths: tuple[Path, ...], db_path: Path | None, workers: int | None) -> None:
    """ExifTool metadata for every media record not yet extracted.

    Give a job directory, or --db FILE and any WARC files (ours or another crawler's).

    Examples:

        lifeboat extract jobs/demo

        lifeboat extract --db parler.db crawl-00000.warc.gz crawl-00001.warc.gz
    """
    from metadata.extract import run_extract_command

    run_extract_command(paths=paths, db_path=db_path, workers=workers)


@cli.command()
@job_dir_argument
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --require-login.")
@click.option("--port", default=8001, show_default=True, type=int, help="0 picks a free port.")
@click.option("--require-login", is_flag=True,
              help="Let in only whoever opens the one-time login URL printed at start.")
@click.option("--tiles", default="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
              show_default=True, help="Map tile URL template (e.g. a local tile server).")
def serve(job_dir: Path, host: str, port: int, require_login: bool, tiles: str) -> None:
    """Datasette over DIR's database with lifeboat's plugins, read-only.

    The archive holds people's locations: it listens on 127.0.0.1 unless you add
    --require-login.

    Example:

        lifeboat serve jobs/demo --port 8001
    """
    from datasette_plugins.serve import run_serve_command

    run_serve_command(job_dir=job_dir, host=host, port=port, require_login=require_login,
                      tiles=tiles)


@cli.command()
@job_dir_argument
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: standard output).")
def export(job_dir: Path, fmt: str, output: Path | None) -> None:
    """One row per media item per post, for journalists.

    Example:

        lifeboat export jobs/demo --format csv -o media.csv
    """
    from datasette_plugins.export import run_export_command

    run_export_command(job_dir=job_dir, fmt=fmt, output=output)


@cli.command()
@job_dir_argument
def verify(job_dir: Path) -> None:
    """Re-read every WARC and check digests and DB<->WARC consistency; exit 1 on a problem.

    Example:

        lifeboat verify jobs/demo
    """
    from archive.verify import run_verify_command

    sys.exit(run_verify_command(job_dir=job_dir))


@cli.command()
@job_dir_argument
def pack(job_dir: Path) -> None:
    """Write a CDXJ index and a WACZ for replay.

    Example:

        lifeboat pack jobs/demo
    """
    from archive.pack import run_pack_command

    run_pack_command(job_dir=job_dir)


@cli.command()
@job_dir_argument
def status(job_dir: Path) -> None:
    """Ledger summary: how many IDs in each state, gaps, rate.

    Example:

        lifeboat status jobs/demo
    """
    from archive.ledger import run_status_command

    run_status_command(job_dir=job_dir)


@cli.command()
def profiles() -> None:
    """List the bundled profiles and the variables each needs.

    Example:

        lifeboat profiles
    """
    from spiders.profile import run_profiles_command

    run_profiles_command()


if __name__ == "__main__":
    cli()
