"""Errors of the metadata package; each message says how to fix the problem."""

from __future__ import annotations

from archive.exceptions import LifeboatError

INSTALL_HINT = (
    "install a current one with `sudo apt-get install libimage-exiftool-perl` "
    "(Debian/Ubuntu) or from https://exiftool.org/ and make sure `exiftool` is on PATH"
)


class MetadataError(LifeboatError):
    """Base class of the metadata package's errors."""


class ExifToolMissing(MetadataError):
    """ExifTool is not installed or not on PATH."""

    def __init__(self, executable: str) -> None:
        super().__init__(f"ExifTool ({executable!r}) was not found: {INSTALL_HINT}")


class ExifToolTooOld(MetadataError):
    """ExifTool is older than 12.24, which runs code from crafted files (CVE-2021-22204)."""

    def __init__(self, version: str, minimum: str) -> None:
        super().__init__(
            f"ExifTool {version} is older than {minimum} and executes code hidden in crafted "
            f"files (CVE-2021-22204); {INSTALL_HINT}"
        )


class ExifToolNotStarting(MetadataError):
    """ExifTool did not answer its first command (its version) in time."""

    def __init__(self, executable: str, seconds: float) -> None:
        super().__init__(
            f"ExifTool ({executable!r}) did not start within {seconds:g} s: check that "
            f"`{executable} -ver` prints a version, or wait until the machine is less busy "
            f"and run the same command again (nothing extracted is lost)"
        )


class NotAJobDirectory(MetadataError):
    """The path given to `lifeboat extract` is neither a job directory nor used with --db."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is not a lifeboat job directory (no archive.db inside); to extract from "
            f"WARC files give a database: lifeboat extract --db FILE WARC..."
        )
