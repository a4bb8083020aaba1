"""Errors of the spiders package; each message says how to fix the problem.

They keep the builtin type they replace (ValueError, FileNotFoundError), so code that
catches those still does."""

from __future__ import annotations

from archive.exceptions import LifeboatError


class SpiderError(LifeboatError):
    """Base class of the spiders package's errors."""


class BadOption(SpiderError, ValueError):
    """A command-line value (--ids, --var, --warc-max-size, --chunk, --item) is malformed."""


class ProfileNotFound(SpiderError, FileNotFoundError):
    """No bundled profile of that name and no such TOML file."""
