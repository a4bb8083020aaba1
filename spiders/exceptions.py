"""Errors of the spiders package; each message says how to fix the problem.

They keep the builtin type they replace (ValueError, FileNotFoundError, ConnectionError),
so code that catches those still does."""

from __future__ import annotations

from archive.exceptions import LifeboatError


class SpiderError(LifeboatError):
    """Base class of the spiders package's errors."""


class BadOption(SpiderError, ValueError):
    """A command-line value (--ids, --var, --warc-max-size, --chunk, --item) is malformed."""


class ProfileNotFound(SpiderError, FileNotFoundError):
    """No bundled profile of that name and no such TOML file."""


class RedisUnreachable(SpiderError, ConnectionError):
    """The coordinator's Redis does not answer: start redis-server or fix --redis URL."""


class NothingSeeded(SpiderError):
    """Redis holds no walk for this profile: run `lifeboat seed` first."""


class SeedMismatch(SpiderError):
    """Redis already holds a different walk for this profile: reuse the same --ids and
    --chunk, or start over with `lifeboat seed ... --reset`."""
