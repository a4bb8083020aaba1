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
