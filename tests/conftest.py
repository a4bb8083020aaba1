"""Shared pytest fixtures: the real-world corpus, the demo platform, job directories."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus (real photos, videos and WARCs); skips when it is absent."""
    if not (CORPUS / "exiftool-truth.json").is_file():
        pytest.skip(f"real-world corpus not found at {CORPUS} (it sits beside the project root)")
    return CORPUS


@pytest.fixture(scope="session")
def demo_platform():
    """The demo platform (200 posts, seed 7) in a subprocess: `.api`, `.media`, `.truth`."""
    from demo.server import start_demo

    with start_demo(posts=200, seed=7) as handle:
        handle.truth  # fetched once, here, before any test can inject faults
        yield handle


@pytest.fixture(scope="session")
def demo_factory():
    """Start extra demo platforms: `demo_factory(posts=.., seed=.., error_rate=.., ...)`.

    Takes start_demo's arguments (posts, seed, latency_ms, rate_limit_every, retry_after,
    error_rate, drop_rate, repost_rate); every platform started is stopped at session end.
    """
    from demo.server import start_demo

    handles = []

    def start(**options):
        handles.append(start_demo(**options))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()
