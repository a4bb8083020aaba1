"""`lifeboat pack`: CDXJ index and WACZ of a real demo crawl; `wacz validate` passes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cdxj import read_cdxj
from crawl import cli
from crawl_helpers import rows, run_crawl

FIRST, LAST = 1, 60


@pytest.fixture(scope="module")
def packed(tmp_path_factory, demo_platform) -> Path:
    """A real crawl of the demo platform, then `lifeboat pack` on it."""
    job_dir = tmp_path_factory.mktemp("pack") / "evac"
    run_crawl(job_dir, demo_platform, ids=f"{FIRST}-{LAST}")
    result = CliRunner().invoke(cli, ["pack", str(job_dir)])
    assert result.exit_code == 0, result.output
    return job_dir


def wacz_pages(wacz: Path) -> list[dict]:
    with zipfile.ZipFile(wacz) as zf:
        lines = zf.read("pages/pages.jsonl").decode("utf-8").splitlines()
    return [json.loads(line) for line in lines[1:]]


def test_cdxj_indexes_every_capture(packed):
    lines = list(read_cdxj(packed / "indexes" / "index.cdxj"))
    assert [(ln.urlkey, ln.timestamp) for ln in lines] == sorted(
        (ln.urlkey, ln.timestamp) for ln in lines)
    indexed = {ln.position: ln.fields for ln in lines if "url" in ln.fields}  # not warcinfo
    captures = rows(packed, "SELECT warc_filename, warc_offset, url, status, warc_type "
                            "FROM captures")
    assert len(indexed) == len(captures)
    for name, offset, url, status, warc_type in captures:
        fields = indexed[(name, offset)]
        assert fields["url"] == url
        if warc_type == "revisit":
            assert fields["mime"] == "warc/revisit"
        else:
            assert int(fields["status"]) == status


def test_wacz_validates(packed):
    wacz = packed / "evac.wacz"
    tool = Path(sys.executable).with_name("wacz")
    result = subprocess.run([str(tool), "validate", "-f", str(wacz)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the passed WACZ is valid" in result.stdout


def test_wacz_holds_the_warcs_unchanged(packed):
    with zipfile.ZipFile(packed / "evac.wacz") as zf:
        inside = {Path(n).name: hashlib.sha256(zf.read(n)).hexdigest()
                  for n in zf.namelist() if n.startswith("archive/")}
        package = json.loads(zf.read("datapackage.json"))
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in (packed / "warc").glob("*.warc.gz")}
    assert inside == on_disk
    assert package["title"] == "lifeboat archive: evac"


def test_one_page_per_archived_post(packed, demo_platform):
    pages = wacz_pages(packed / "evac.wacz")
    truth = demo_platform.truth["posts"]
    archived = {f"{demo_platform.api}/api/v1/posts/{pid}" for pid, state in truth.items()
                if state == "archived" and FIRST <= int(pid) <= LAST}
    assert archived and sorted(p["url"] for p in pages) == sorted(archived)
    authors = dict(rows(packed, "SELECT url, author FROM posts"))
    for page in pages:
        assert page["title"].startswith("Post ") and f" by {authors[page['url']]}" in page["title"]
        assert page["ts"].endswith("Z")


def test_pack_again_replaces_the_outputs(packed):
    before = wacz_pages(packed / "evac.wacz")
    result = CliRunner().invoke(cli, ["pack", str(packed)])
    assert result.exit_code == 0, result.output
    assert f"{len(before)} pages" in result.output
    assert len(wacz_pages(packed / "evac.wacz")) == len(before)
    assert not list(packed.glob("*.partial")) and not list(packed.glob("indexes/*.partial"))


def test_pack_without_warcs_says_what_to_do(tmp_path):
    result = CliRunner().invoke(cli, ["pack", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds no WARC files" in result.output and "lifeboat crawl" in result.output
