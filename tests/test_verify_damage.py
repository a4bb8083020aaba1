"""`lifeboat verify` on WARC files alone: a torn or padded last record is a problem, in
gzipped and plain WARCs alike; an intact file is OK (and warcio's own check agrees)."""

from __future__ import annotations

import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent


def write_warc(path: Path, gzipped: bool) -> None:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzipped, warc_version="1.1")
        for n in range(3):
            body = f'{{"id": {n}, "text": "post {n}"}}'.encode()
            writer.write_record(writer.create_warc_record(
                f"https://social.example/api/posts/{n}", "resource",
                payload=BytesIO(body), length=len(body),
                warc_content_type="application/json"))


def verify(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "crawl.py"), "verify", str(folder)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("gzipped", [True, False])
def test_intact_warc_is_ok(tmp_path, gzipped):
    write_warc(tmp_path / ("a.warc.gz" if gzipped else "a.warc"), gzipped)
    result = verify(tmp_path)
    assert result.returncode == 0 and "OK: no problems found" in result.stdout, result.stdout


@pytest.mark.parametrize("cut", [1, 4, 8, 30])
def test_torn_last_record_of_a_gzipped_warc(tmp_path, cut):
    """Cut inside the last gzip member's 8-byte trailer (every byte of the record is still
    there: warcio reads it without a word) or inside its data."""
    path = tmp_path / "a.warc.gz"
    write_warc(path, gzipped=True)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - cut)
    result = verify(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "PROBLEM a.warc.gz @ offset" in result.stdout


@pytest.mark.parametrize("gzipped,padding", [(True, b"\n"), (True, b"\0" * 512),
                                             (False, b"\r\n"), (False, b"x")])
def test_padded_last_record(tmp_path, gzipped, padding):
    path = tmp_path / ("a.warc.gz" if gzipped else "a.warc")
    write_warc(path, gzipped)
    with open(path, "ab") as fh:
        fh.write(padding)
    result = verify(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "after the last complete record" in result.stdout or "unreadable" in result.stdout


def test_torn_plain_warc(tmp_path):
    path = tmp_path / "a.warc"
    write_warc(path, gzipped=False)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 10)
    assert verify(tmp_path).returncode == 1
