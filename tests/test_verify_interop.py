"""`lifeboat verify` on WARCs written by other tools: wget on loopback, and the corpus.

A directory holding WARC files (no ``warc/`` folder, no ``archive.db``) gets the WARC
checks; after ``lifeboat extract --db DIR/archive.db`` on it, the database checks too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from crawl import cli
from test_verify import problems, verify


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def wget_dir(tmp_path_factory) -> Path:
    """A folder with one WARC that `wget --warc-file` wrote crawling a loopback site."""
    site = tmp_path_factory.mktemp("site")
    Image.new("RGB", (64, 48), (200, 40, 90)).save(site / "photo.jpg", quality=90)
    (site / "data.json").write_text('{"id": 1, "text": "caf\\u00e9"}', encoding="utf-8")
    (site / "index.html").write_text('<a href="photo.jpg">p</a> <a href="data.json">d</a>',
                                     encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = tmp_path_factory.mktemp("wget")
    try:
        subprocess.run(["wget", "--recursive", "--level=1", "--no-verbose",
                        "--tries=3", "--timeout=20",  # a loaded machine may drop a connection
                        f"--directory-prefix={out / 'download'}", f"--warc-file={out / 'site'}",
                        f"http://127.0.0.1:{server.server_address[1]}/"],
                       check=True, capture_output=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    shutil.rmtree(out / "download")
    assert (out / "site.warc.gz").is_file()
    return out


@pytest.fixture
def wget_copy(wget_dir, tmp_path) -> Path:
    return Path(shutil.copytree(wget_dir, tmp_path / "wget"))


def response_offset(warc: Path, suffix: str) -> tuple[int, int]:
    """(offset, length) of the response record whose URL ends with ``suffix``."""
    with open(warc, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            uri = record.rec_headers.get_header("WARC-Target-URI") or ""
            if record.rec_type == "response" and uri.endswith(suffix):
                record.content_stream().read()
                return it.get_record_offset(), it.get_record_length()
    raise AssertionError(f"no response for {suffix} in {warc}")


def test_wget_warc_verifies(wget_dir):
    code, output = verify(wget_dir)
    assert code == 0, output
    assert "database: none" in output and "OK: no problems found" in output
    responses = int(re.search(r"(\d+) response", output)[1])
    assert responses >= 3  # index.html, photo.jpg, data.json (and robots.txt's 404)


def test_wget_warc_damage_is_reported(wget_copy):
    warc = wget_copy / "site.warc.gz"
    offset, length = response_offset(warc, "/photo.jpg")
    data = bytearray(warc.read_bytes())
    data[offset + length // 2] ^= 0x10
    warc.write_bytes(data)
    code, output = verify(wget_copy)
    assert code == 1
    assert ("site.warc.gz", offset) in {(f, o) for f, o, _ in problems(output)}, output


def test_extracted_wget_warc_verifies_with_its_database(wget_copy):
    """`lifeboat extract --db` records the wget WARC's media; verify checks those rows."""
    result = CliRunner().invoke(cli, ["extract", "--db", str(wget_copy / "archive.db"),
                                      str(wget_copy / "site.warc.gz")])
    assert result.exit_code == 0, result.output
    code, output = verify(wget_copy)
    assert code == 0, output
    assert "1 media checked" in output


CORPUS_VERDICTS = {
    "pywb__iana.warc.gz": True,
    "warcio__example.warc.gz": True,
    "wac__IAH-urls-wget.warc.gz": False,  # old wget gave two records one WARC-Record-ID
    "warcio__example-resource.warc.gz": True,
    "warcio__example-trunc.warc": False,  # wrong Content-Length: digests fail
    "pywb__example-extra.warc": False,  # a payload digest fails
    "warcio__example-digest.warc": False,  # a digest fails, record ids repeated
    "rp__clipped.warc.gz": False,  # gzip cut short: `warcio check` misses it
    "wac__link-extraction-test.warc": False,  # bad Content-Length; warcio then raises
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_VERDICTS))
def test_corpus_warcs(corpus_dir, tmp_path, name):
    shutil.copy(corpus_dir / "warcs" / name, tmp_path / name)
    code, output = verify(tmp_path)
    assert code == (0 if CORPUS_VERDICTS[name] else 1), output
    if not CORPUS_VERDICTS[name]:
        assert all(f == name and o is not None for f, o, _ in problems(output)), output


def test_wget_warc_packs_with_detected_pages(wget_dir, tmp_path):
    """`lifeboat pack` on another tool's WARCs (no database): the HTML pages become pages."""
    job = tmp_path / "wgetjob"
    (job / "warc").mkdir(parents=True)
    shutil.copy(wget_dir / "site.warc.gz", job / "warc")
    result = CliRunner().invoke(cli, ["pack", str(job)])
    assert result.exit_code == 0, result.output
    assert "1 pages: HTML pages detected" in result.output
    wacz_tool = Path(sys.executable).with_name("wacz")
    check = subprocess.run([str(wacz_tool), "validate", "-f", str(job / "wgetjob.wacz")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.corpus
def test_whole_corpus_folder(corpus_dir):
    """Every WARC/ARC of the corpus at once (broken ones included): a report, no crash."""
    code, output = verify(corpus_dir / "warcs")
    assert code == 1
    assert "Traceback" not in output
    found = problems(output)
    assert found and all(o is not None for _, o, _ in found), output
    assert {f for f, _, _ in found} >= {n for n, ok in CORPUS_VERDICTS.items() if not ok}
