"""`lifeboat serve`: Datasette over a job's archive.db, read-only, with lifeboat's plugins."""

from __future__ import annotations

import socket
from pathlib import Path

import click
from datasette.app import Datasette

from archive.schema import check_database, require_current
from datasette_plugins.config import BUNDLED_TILES, SETTINGS, build_metadata
from datasette_plugins.examples import example_queries
from datasette_plugins.safety import UnsafeBind, check_bind


def database_path(job_dir: Path) -> Path:
    """The job's archive.db, or a ClickException saying how to make one."""
    db_path = Path(job_dir) / "archive.db"
    if not db_path.is_file():
        raise click.ClickException(
            f"{db_path} does not exist: crawl into {job_dir} first "
            f"(lifeboat crawl PROFILE --out {job_dir})")
    return db_path


def make_datasette(db_path: Path, require_login: bool = False,
                   tiles: str | None = None) -> Datasette:
    """A Datasette instance over ``db_path`` with lifeboat's metadata and settings.

    Datasette opens the file read-only (``mode=ro``) and our connections set
    ``query_only``: nothing is written. Full-text search and the map's views are part of
    the schema (``archive.schema``), made by the commands that write.
    """
    return Datasette(
        [str(db_path)],
        metadata=build_metadata(tile_layer=tiles or BUNDLED_TILES, require_login=require_login,
                                examples=example_queries(db_path)),
        settings=SETTINGS,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``: connections queue from now on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({error.strerror}): pick another --port "
            "(0 picks a free one)") from None
    sock.listen(2048)
    return sock


def run_serve_command(job_dir: Path, host: str = "127.0.0.1", port: int = 8001,
                      require_login: bool = False, tiles: str | None = None) -> None:
    """Serve ``job_dir``'s database on ``host:port`` (port 0 picks a free port)."""
    import uvicorn

    try:
        check_bind(host, require_login)
    except UnsafeBind as error:
        raise click.ClickException(str(error)) from None
    db_path = database_path(job_dir)
    check_database(db_path)  # damaged: an error that says so (lifeboat's CLI), no traceback
    require_current(db_path)  # behind: an error saying `lifeboat upgrade DIR` (no writes)
    ds = make_datasette(db_path, require_login=require_login, tiles=tiles)
    sock = listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{bound_port}/"
    click.echo(f"lifeboat serve: {url}")
    if require_login:
        click.echo(f"lifeboat serve: log in once with {url}-/auth-token?token={ds._root_token}"
                   " (everyone else is refused; put HTTPS in front of it beyond a trusted "
                   "network)")
    server = uvicorn.Server(uvicorn.Config(ds.app(), log_level="warning", lifespan="on",
                                          timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
