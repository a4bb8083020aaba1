"""Errors raised by the archive package; each message says how to fix the problem."""

from __future__ import annotations

import errno
import sqlite3


class LifeboatError(Exception):
    """Base class of every error lifeboat's packages raise for a person to read: the CLI
    prints the message (which says how to fix the problem) and exits 1."""


class ArchiveError(LifeboatError):
    """Base class of the archive package's errors."""


class JobMismatch(ArchiveError):
    """The job directory was started with another profile: use another --out directory."""


class NotAJobDir(ArchiveError):
    """The directory has no archive.db: start a crawl with lifeboat crawl PROFILE --out DIR."""


class JobLocked(ArchiveError):
    """Another crawl is running on the job directory: wait for it, or stop it first."""


class DamagedDatabase(ArchiveError):
    """archive.db is damaged: SQLite cannot read it whole (a PRAGMA quick_check failed)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{path} is damaged: {problems[0]}{more}. Keep a copy of it; `sqlite3 {path} "
            f"'PRAGMA integrity_check'` lists the damage, `sqlite3 {path} .recover` saves "
            f"what is still readable; the WARC files are not affected (lifeboat verify "
            f"checks them)")
        self.path, self.problems = path, problems


class SchemaBehind(ArchiveError):
    """archive.db was made by an older lifeboat, and a command that only reads it (serve,
    export) cannot use it until it is upgraded."""

    def __init__(self, job_dir: str, pending: list[str]) -> None:
        super().__init__(
            f"{job_dir}/archive.db was made by an older lifeboat ({len(pending)} schema "
            f"upgrades pending: {', '.join(pending)}) and this command only reads it: run "
            f"`lifeboat upgrade {job_dir}` once, then run this command again")
        self.job_dir, self.pending = job_dir, pending


class DiskFull(ArchiveError):
    """The disk is full: free some space, then rerun the same command to resume."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full: an OSError with ENOSPC /
    EDQUOT, or SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return False


def fatal_write_error(exc: BaseException) -> str | None:
    """What is wrong, when ``exc`` means no write can succeed any more (the crawl must stop
    instead of discarding every result it gets): the disk full, the database damaged, the
    disk failing or read-only. None for any other error."""
    if is_disk_full(exc):
        return "the disk is full"
    if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) in (
            sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return f"archive.db is damaged (SQLite: {exc})"
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
            sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY):
        return f"archive.db cannot be written (SQLite: {exc})"
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.EROFS):
        return f"the disk cannot be written ({exc.strerror})"
    return None
