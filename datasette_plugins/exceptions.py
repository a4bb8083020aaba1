"""Errors of the datasette_plugins package; each message says how to fix the problem."""

from __future__ import annotations

from pathlib import Path

from archive.exceptions import LifeboatError


class ServeError(LifeboatError):
    """Base class of the datasette_plugins package's errors."""


class NoDatabase(ServeError):
    """The job directory has no archive.db to serve or export: crawl into it first."""

    def __init__(self, job_dir: Path, db_path: Path) -> None:
        super().__init__(f"{db_path} does not exist: crawl into {job_dir} first "
                         f"(lifeboat crawl PROFILE --out {job_dir})")


class CannotListen(ServeError):
    """The address or port is taken or not ours: pick another --port (0 picks a free one)."""

    def __init__(self, host: str, port: int, why: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({why}): pick another --port "
                         "(0 picks a free one)")


class UnsafeBind(ServeError):
    """Serving this archive beyond this machine needs a login."""
