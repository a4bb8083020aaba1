"""lifeboat merge: shards become one job that verify accepts; overlaps are kept once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crawl_helpers import ROOT, rows, run_crawl, warc_records

pytestmark = pytest.mark.timeout(180)


def lifeboat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "crawl.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def shards(demo_platform, tmp_path_factory) -> tuple[Path, Path]:
    """Two shards whose ID ranges overlap on 21-30 (as when a chunk is walked twice)."""
    base = tmp_path_factory.mktemp("shards")
    run_crawl(base / "a", demo_platform, ids="1-30")
    run_crawl(base / "b", demo_platform, ids="21-50")
    return base / "a", base / "b"


def test_merge_keeps_every_record_and_one_row_per_item(shards, tmp_path, demo_platform):
    a, b = shards
    out = tmp_path / "merged"
    result = lifeboat("merge", str(out), str(a), str(b))
    assert result.returncode == 0, result.stderr
    ledger = rows(out, "SELECT item_type, id, count(*) FROM ledger GROUP BY 1, 2")
    assert all(n == 1 for _, _, n in ledger)
    assert {i for t, i, _ in ledger if t == "post"} == {str(n) for n in range(1, 51)}
    public = {pid for pid, s in demo_platform.truth["posts"].items()
              if s in ("archived", "deleted") and int(pid) <= 50}
    assert {pid for (pid,) in rows(out, "SELECT id FROM posts")} == public
    # 21-30 were fetched by both shards: one capture each, the other noted with its place
    assert "captures repeat another shard's" in result.stdout
    repeated = [line.split("\t") for line in
                (out / "logs" / "duplicates.log").read_text(encoding="utf-8").splitlines()]
    overlap = {demo_platform.post_url(int(pid)) for pid in public if 20 < int(pid) <= 30}
    assert overlap <= {url for _, url, *_ in repeated}
    assert all(n == 1 for (n,) in rows(out, "SELECT count(*) FROM captures GROUP BY url"))
    shard_captures = sum(rows(s, "SELECT count(*) FROM captures")[0][0] for s in (a, b))
    assert rows(out, "SELECT count(*) FROM captures")[0][0] == shard_captures - len(repeated)
    records = {record.rec_headers.get_header("WARC-Record-ID"): (name, str(offset))
               for name, offset, record in warc_records(out)}
    assert all(records[record_id] == (name, offset)
               for _, _, name, offset, record_id, _ in repeated)  # still in OUT's WARCs
    for pid in (pid for pid in public if 20 < int(pid) <= 30):
        kept = rows(out, "SELECT c.warc_filename FROM posts p JOIN captures c "
                         "ON c.id = p.capture_id WHERE p.id = ?", (pid,))[0][0]
        assert kept.startswith(f"{a.name}-"), pid  # the first shard's capture is kept
    names = {p.name for p in (out / "warc").glob("*.warc.gz")}
    assert names == {p.name for s in (a, b) for p in (s / "warc").glob("*.warc.gz")}
    verify = lifeboat("verify", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    again = lifeboat("merge", str(out), str(b), str(a))
    assert again.returncode == 0, again.stderr
    assert "0 WARC files; rows added: 0 captures, 0 posts, 0 media, 0 ledger" in again.stdout
    assert rows(out, "SELECT count(*) FROM captures")[0][0] == shard_captures - len(repeated)


def test_merge_refuses_two_shards_with_one_file_name(shards, tmp_path):
    _a, b = shards
    clone = tmp_path / "clone"
    shutil.copytree(b, clone)
    warc = sorted((clone / "warc").glob("*.warc.gz"))[0]
    with open(warc, "ab") as fh:
        fh.write(b"not the same file")
    out = tmp_path / "merged"
    result = lifeboat("merge", str(out), str(b), str(clone))
    assert result.returncode != 0
    assert warc.name in result.stderr and "--worker NAME" in result.stderr
    assert not (out / "archive.db").exists()
