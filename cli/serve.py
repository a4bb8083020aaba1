"""`lifeboat serve DIR`: Datasette over the job's database (``datasette_plugins``), read-only."""

from __future__ import annotations

from pathlib import Path

import click

from archive.schema import check_database, require_current
from datasette_plugins.safety import check_bind
from datasette_plugins.serve import database_path, listening_socket, make_datasette


def run_serve(job_dir: Path, host: str = "127.0.0.1", port: int = 8001,
              require_login: bool = False, tiles: str | None = None) -> None:
    """Serve ``job_dir``'s database on ``host:port`` (port 0 picks a free port) until stopped."""
    import uvicorn

    check_bind(host, require_login)
    db_path = database_path(job_dir)
    check_database(db_path)  # damaged: an error that says so, no traceback
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
