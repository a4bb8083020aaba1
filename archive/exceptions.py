"""Errors raised by the archive package; each message says how to fix the problem."""


class ArchiveError(Exception):
    """Base class of the archive package's errors."""


class JobMismatch(ArchiveError):
    """The job directory was started with another profile: use another --out directory."""


class NotAJobDir(ArchiveError):
    """The directory has no archive.db: start a crawl with lifeboat crawl PROFILE --out DIR."""


class JobLocked(ArchiveError):
    """Another crawl is running on the job directory: wait for it, or stop it first."""
