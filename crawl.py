"""lifeboat's command line: one click group, thin commands over the packages.

Installed as the ``lifeboat`` command; ``python crawl.py ...`` is the same program.
Longer command bodies live in ``cli/``; click is imported there and here only.
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


class LifeboatGroup(click.Group):
    """The command group: the packages' errors (``LifeboatError``) and a damaged archive.db
    are an error message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        import sqlite3

        from archive.exceptions import LifeboatError

        try:
            return super().invoke(ctx)
        except LifeboatError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            from archive.schema import is_damage

            if not is_damage(exc):
                raise
            raise click.ClickException(
                f"the job's archive.db is damaged ({exc}): run lifeboat verify DIR to see "
                "where; `sqlite3 DIR/archive.db .recover` saves what is still readable") from None


@click.group(cls=LifeboatGroup, context_settings=CONTEXT_SETTINGS)
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
    from cli.demo import run_demo

    run_demo(posts=posts, seed=seed, out=out, port=port, serve=not no_serve)


@cli.command()
@click.argument("profile")
@click.option("--out", "job_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="Job directory.")
@click.option("--ids", default=None, help="ID range A-B, overriding the profile's.")
@click.option("--var", "variables", multiple=True, metavar="K=V",
              help="Profile variable, e.g. --var api=http://127.0.0.1:8080 (repeatable).")
@click.option("--concurrency", type=int, default=None,
              help="Requests in flight, in total and per host (also AutoThrottle's "
                   "target; 429/5xx still slow it down). Default: the profile's.")
@click.option("--warc-max-size", default="1GB", show_default=True,
              help="Rotate WARC files at this size (e.g. 500MB, 1GB).")
@click.option("--no-extract", is_flag=True, help="Skip ExifTool extraction after the crawl.")
@click.option("--retry-failed", is_flag=True,
              help="Also fetch again failed IDs whose answers were unusable (malformed, "
                   "truncated) 3 times already; other failed IDs are always fetched again.")
@click.option("--dry-run", is_flag=True, help="Print the effective settings and stop.")
@click.option("--redis", "redis_url", default=None, metavar="URL",
              help="Be a worker of the walk `lifeboat seed` put in this Redis "
                   "(e.g. redis://coordinator:6379/0); DIR is then this worker's shard.")
@click.option("--worker", default=None, metavar="NAME",
              help="With --redis: this worker's name, unique per machine (default: host name).")
@click.option("--tsa", "tsas", multiple=True, metavar="URL",
              help="Seal each WARC file as it is closed, time-stamped by this RFC 3161 TSA "
                   "(repeatable); an unreachable TSA is queued, never stops the crawl.")
def crawl(profile: str, job_dir: Path, ids: str | None, variables: tuple[str, ...],
          concurrency: int | None, warc_max_size: str, no_extract: bool,
          dry_run: bool, redis_url: str | None, worker: str | None,
          tsas: tuple[str, ...], retry_failed: bool) -> None:
    """Walk PROFILE's endpoints into the job directory DIR (re-running resumes).

    PROFILE is a bundled profile name (see `lifeboat profiles`) or a TOML file.
    With --redis, claim chunks of a seeded walk until none are left (see `lifeboat seed`).

    Examples:

        lifeboat crawl demo --out jobs/demo --var api=http://127.0.0.1:8080 \\
            --var media=http://127.0.0.1:8081 --ids 1-500

        lifeboat crawl demo --redis redis://10.0.0.1:6379/0 --worker w1 --out shards/w1

        lifeboat crawl demo --out jobs/demo --var api=... --var media=... \\
            --tsa https://freetsa.org/tsr
    """
    if (redis_url or worker) and tsas:
        raise click.ClickException("--tsa is for one-machine crawls: seal the merged job "
                                   "with `lifeboat seal DIR --tsa URL` after `lifeboat merge`")
    if redis_url or worker:
        if not redis_url:
            raise click.ClickException("--worker goes with --redis URL (see lifeboat seed -h)")
        if ids:
            raise click.ClickException("a worker walks the chunks in Redis: give --ids to "
                                       "lifeboat seed instead")
        from cli.distributed import run_worker_command

        run_worker_command(profile=profile, job_dir=job_dir, redis_url=redis_url, worker=worker,
                           variables=variables, concurrency=concurrency,
                           warc_max_size=warc_max_size, extract=not no_extract, dry_run=dry_run)
        return
    from cli.crawl import run_crawl_command

    run_crawl_command(profile=profile, job_dir=job_dir, ids=ids, variables=variables,
                      concurrency=concurrency, warc_max_size=warc_max_size,
                      extract=not no_extract, dry_run=dry_run, tsas=tsas,
                      retry_failed=retry_failed)


@cli.command(name="try")
@click.argument("profile")
@click.argument("item_id", metavar="ID")
@click.option("--item", "item_type", default=None, metavar="TYPE",
              help="Item type of ID (default: the profile's first walked type).")
@click.option("--var", "variables", multiple=True, metavar="K=V",
              help="Profile variable, e.g. --var api=http://127.0.0.1:8080 (repeatable).")
@click.option("--out", "job_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Keep the fetched answer in this job directory (default: a scratch one).")
def try_(profile: str, item_id: str, item_type: str | None, variables: tuple[str, ...],
         job_dir: Path | None) -> None:
    """Fetch one item of PROFILE and show what every expression makes of it.

    The real crawler fetches ID (its redirects and pages, nothing it discovers) and
    prints each field and discovery, the rows as stored, and each expression that matched
    nothing. Exit status 1 when the item is not archived.

    Examples:

        lifeboat try demo 7 --var api=http://127.0.0.1:8080 --var media=http://127.0.0.1:8081

        lifeboat try wordpress.toml 42 --item attachment --var instance=https://blog.example
    """
    from spiders.try_item import try_item

    lines, archived = try_item(profile, item_id, item_type, variables, job_dir)
    for line in lines:
        click.echo(line)
    if not archived:
        sys.exit(1)


@cli.command()
@click.argument("profile")
@click.option("--redis", "redis_url", required=True, metavar="URL",
              help="The coordinator's Redis, e.g. redis://127.0.0.1:6379/0.")
@click.option("--ids", default=None, help="ID range A-B, overriding the profile's.")
@click.option("--chunk", default=1000, show_default=True, type=int,
              help="IDs per chunk (the unit a worker claims, leases and finishes).")
@click.option("--lease", default=60.0, show_default=True, type=float,
              help="Seconds a claimed chunk stays with a worker that stops renewing it.")
@click.option("--var", "variables", multiple=True, metavar="K=V",
              help="Profile variable, stored for the workers (repeatable).")
@click.option("--reset", is_flag=True, help="Delete this profile's walk from Redis first.")
def seed(profile: str, redis_url: str, ids: str | None, chunk: int, lease: float,
         variables: tuple[str, ...], reset: bool) -> None:
    """Put PROFILE's ID walk into Redis as chunks for distributed workers.

    Workers then run `lifeboat crawl PROFILE --redis URL --worker NAME --out DIR`
    on any number of machines; `lifeboat merge` joins their shards.

    Example:

        lifeboat seed demo --redis redis://127.0.0.1:6379/0 --ids 1-100000 --chunk 1000 \\
            --var api=http://127.0.0.1:8080 --var media=http://127.0.0.1:8081
    """
    from cli.distributed import run_seed

    run_seed(profile, redis_url, ids, chunk, lease, variables, reset)


@cli.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.argument("shards", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--move", is_flag=True,
              help="Move the shards' WARC files into OUT/warc (default: hard link or copy).")
def merge(out: Path, shards: tuple[Path, ...], move: bool) -> None:
    """Merge worker shard directories into one job directory OUT.

    Rows are deduplicated (captures by WARC record id, one ledger row per ID), WARC
    files land in OUT/warc; extract, serve, verify and pack then work on OUT.

    Example:

        lifeboat merge jobs/demo shards/w1 shards/w2
    """
    from archive.merge import merge_shards

    for line in merge_shards(out, list(shards), move).lines():
        click.echo(line)


@cli.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Database to fill from WARC files (instead of a job DIR).")
@click.option("--workers", type=int, default=None, help="ExifTool processes (default: cores).")
@click.option("--timeout", "file_timeout", type=float, default=10.0, show_default=True,
              metavar="SECONDS", help="Per-file time limit: a file ExifTool is stuck on for "
                                      "this long gets an error record instead.")
def extract(paths: tuple[Path, ...], db_path: Path | None, workers: int | None,
            file_timeout: float) -> None:
    """ExifTool metadata for every media record not yet extracted.

    Give a job directory, or --db FILE and any WARC files (ours or another crawler's).

    Examples:

        lifeboat extract jobs/demo

        lifeboat extract --db parler.db crawl-00000.warc.gz crawl-00001.warc.gz
    """
    from archive.schema import DB_NAME
    from metadata.extract import extract_job, extract_warcs, summary, warc_files

    if db_path is None:
        if len(paths) != 1:
            raise click.UsageError("give one job directory, or --db FILE and WARC files")
        result = extract_job(paths[0], workers, file_timeout=file_timeout)
        db_path = paths[0] / DB_NAME
    else:
        result = extract_warcs(warc_files(paths), db_path, workers, file_timeout=file_timeout)
    click.echo(summary(result, db_path))


@cli.command()
@job_dir_argument
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --require-login.")
@click.option("--port", default=8001, show_default=True, type=int, help="0 picks a free port.")
@click.option("--require-login", is_flag=True,
              help="Let in only whoever opens the one-time login URL printed at start.")
@click.option("--tiles", default=None, metavar="URL",
              help="Map tile URL template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
                   "(that server then sees which places you look at) or a local tile "
                   "server. Default: the bundled offline basemap (zoom 0-6).")
def serve(job_dir: Path, host: str, port: int, require_login: bool, tiles: str | None) -> None:
    """Datasette over DIR's database with lifeboat's plugins, read-only.

    The archive holds people's locations: it listens on 127.0.0.1 unless you add
    --require-login.

    Example:

        lifeboat serve jobs/demo --port 8001
    """
    from cli.serve import run_serve

    run_serve(job_dir, host=host, port=port, require_login=require_login, tiles=tiles)


@cli.command()
@job_dir_argument
def upgrade(job_dir: Path) -> None:
    """Bring DIR's archive.db, made by an older lifeboat, to this version's schema.

    Applies each schema migration the file has not had, once, and says which. Commands
    that write (crawl, extract, merge) do it themselves; serve only reads, so it asks
    for this first.

    Example:

        lifeboat upgrade jobs/demo
    """
    from archive.schema import DB_NAME, upgrade_job

    applied = upgrade_job(job_dir)
    db_path = job_dir / DB_NAME
    if applied:
        click.echo(f"lifeboat upgrade: {db_path}: applied {', '.join(applied)}")
    else:
        click.echo(f"lifeboat upgrade: {db_path} is current; nothing to apply")


@cli.command()
@job_dir_argument
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: standard output).")
@click.option("--base-url", default="http://127.0.0.1:8001", show_default=True,
              help="Where `lifeboat serve DIR` is reached: the start of evidence_url.")
def export(job_dir: Path, fmt: str, output: Path | None, base_url: str) -> None:
    """One row per media item per post, for journalists: post (text, deleted flag),
    media (type, SHA-256, evidence page), GPS, capture time, fetch time and WARC record.

    Example:

        lifeboat export jobs/demo --format csv -o media.csv
    """
    from cli.export import run_export_command

    run_export_command(job_dir=job_dir, fmt=fmt, output=output, base_url=base_url)


@cli.command()
@job_dir_argument
@click.option("--tsa-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="CA certificate(s) (PEM) of the TSAs: check each seal's signer against "
                   "them (without: only that the token is intact).")
def verify(job_dir: Path, tsa_ca: Path | None) -> None:
    """Re-read every WARC and check digests and DB<->WARC consistency; exit 1 on a problem.

    Also checks every seal in DIR/seals/ (see `lifeboat seal`) and prints its time.

    Example:

        lifeboat verify jobs/demo --tsa-ca tsa-ca.pem
    """
    from archive.verify import format_report, verify_job

    report = verify_job(job_dir, tsa_ca=tsa_ca)
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


@cli.command()
@job_dir_argument
@click.option("--tsa", "tsas", multiple=True, metavar="URL",
              help="RFC 3161 time-stamping authority (repeatable: one token from each).")
@click.option("--timeout", default=20.0, show_default=True, type=float,
              help="Seconds to wait for each TSA.")
def seal(job_dir: Path, tsas: tuple[str, ...], timeout: float) -> None:
    """Hash every WARC file of DIR into a manifest and time-stamp it (RFC 3161).

    Writes DIR/seals/<job>-<time>.manifest (sha256sum format) and beside it one token
    per TSA (.manifest.tsr, .manifest.2.tsr, ...). First retries tokens queued while a
    TSA was unreachable; without --tsa it only does that. Exit 1 if a token is still
    queued.

    Example:

        lifeboat seal jobs/demo --tsa https://freetsa.org/tsr
    """
    from cli.seal import run_seal

    sys.exit(run_seal(job_dir, tsas, timeout))


@cli.command()
@job_dir_argument
@click.option("--sign", "sign_url", default=None, metavar="URL",
              help="Sign the WACZ with this signing server (webrecorder authsign's /sign "
                   "URL); `wacz validate --verify-auth` then checks it.")
@click.option("--sign-token", default=None, envvar="LIFEBOAT_SIGN_TOKEN", metavar="TOKEN",
              help="The signing server's auth token (or set LIFEBOAT_SIGN_TOKEN).")
def pack(job_dir: Path, sign_url: str | None, sign_token: str | None) -> None:
    """Write a CDXJ index and a WACZ for replay (signed, with --sign).

    Examples:

        lifeboat pack jobs/demo

        lifeboat pack jobs/demo --sign https://signer.example.org/sign --sign-token T
    """
    from cli.pack import run_pack

    run_pack(job_dir, sign_url, sign_token)


@cli.command()
@job_dir_argument
def status(job_dir: Path) -> None:
    """Ledger summary: how many IDs in each state, gaps, rate.

    Example:

        lifeboat status jobs/demo
    """
    from archive.ledger import job_status

    for line in job_status(job_dir):
        click.echo(line)


@cli.command()
def profiles() -> None:
    """List the bundled profiles and the variables each needs.

    Example:

        lifeboat profiles
    """
    from spiders.profile import profiles_lines

    for line in profiles_lines():
        click.echo(line)


if __name__ == "__main__":
    cli()
