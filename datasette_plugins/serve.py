"""`lifeboat serve`: Datasette over a job's archive.db, read-only, with lifeboat's plugins."""

from __future__ import annotations

import socket
from pathlib import Path

from datasette.app import Datasette

from archive.schema import DB_NAME
from datasette_plugins.config import BUNDLED_TILES, SETTINGS, build_metadata
from datasette_plugins.examples import example_queries
from datasette_plugins.exceptions import CannotListen, NoDatabase


def database_path(job_dir: Path) -> Path:
    """The job's archive.db; NoDatabase (saying how to make one) when there is none."""
    db_path = Path(job_dir) / DB_NAME
    if not db_path.is_file():
        raise NoDatabase(job_dir, db_path)
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
        raise CannotListen(host, port, error.strerror) from None
    sock.listen(2048)
    return sock
