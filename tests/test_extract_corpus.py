"""The real-world corpus, served on loopback, archived by `wget --warc-file`, then
`lifeboat extract --db` on that WARC: same positions and times as ExifTool on the files."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawl import cli
from metadata.normalise import normalise
from metadata.runner import ExifToolPool

pytestmark = pytest.mark.corpus


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class CorpusServer(ThreadingHTTPServer):
    request_queue_size = 64  # a loaded machine must not refuse wget's next connection


@pytest.fixture(scope="module")
def corpus_server(corpus_dir):
    server = CorpusServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(corpus_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def corpus_media(corpus_dir) -> list[str]:
    """images/... and videos/... paths, relative to the corpus."""
    return sorted(str(p.relative_to(corpus_dir)) for folder in ("images", "videos")
                  for p in (corpus_dir / folder).iterdir() if p.is_file())


@pytest.fixture(scope="module")
def wget_warc(tmp_path_factory, corpus_server, corpus_media) -> tuple[Path, dict[str, str]]:
    """The corpus media archived by wget; returns the WARC and URL -> corpus path."""
    if shutil.which("wget") is None:
        pytest.skip("wget is not installed (./bootstrap.sh test installs it)")
    folder = tmp_path_factory.mktemp("wget")
    urls = {corpus_server + quote(path): path for path in corpus_media}
    (folder / "urls.txt").write_text("\n".join(urls) + "\n")
    subprocess.run(["wget", "--quiet", "--tries=3", "--retry-connrefused", "--waitretry=1",
                    "--warc-file", str(folder / "corpus"),
                    "-O", str(folder / "download"), "-i", str(folder / "urls.txt")],
                   cwd=folder, timeout=120, check=True)
    warc = folder / "corpus.warc.gz"
    assert warc.is_file() and warc.stat().st_size > 1_000_000
    return warc, urls


@pytest.fixture(scope="module")
def extracted(wget_warc, tmp_path_factory) -> tuple[Path, str]:
    warc, _ = wget_warc
    db = tmp_path_factory.mktemp("db") / "corpus.db"
    result = CliRunner().invoke(cli, ["extract", "--db", str(db), str(warc)])
    assert result.exit_code == 0, result.output
    return db, result.output


def db_rows(db_path: Path, urls: dict[str, str]) -> dict[str, dict]:
    """Corpus path -> media_metadata row joined through media."""
    db = sqlite_utils.Database(db_path)
    rows = db.query("SELECT m.url, mm.* FROM media m JOIN media_metadata mm USING (sha256)")
    return {urls[row["url"]]: row for row in rows}


def test_every_corpus_file_is_found_and_extracted(extracted, wget_warc, corpus_media):
    db_path, output = extracted
    rows = db_rows(db_path, wget_warc[1])
    assert sorted(rows) == corpus_media  # all 65, the odd names and the broken ones too
    distinct = {row["sha256"] for row in rows.values()}  # the two empty files are one payload
    assert f"extracted {len(distinct)} new media" in output


def test_positions_match_gps_truth(extracted, wget_warc, corpus_dir):
    rows = db_rows(extracted[0], wget_warc[1])
    truth = {r["file"]: r for r in csv.DictReader(open(corpus_dir / "gps-truth.csv"))}
    for path, row in rows.items():
        if path not in truth:
            assert row["latitude"] is None and row["longitude"] is None, path
            continue
        assert abs(row["latitude"] - float(truth[path]["lat"])) < 1e-6, path
        assert abs(row["longitude"] - float(truth[path]["lon"])) < 1e-6, path
        if truth[path]["alt"]:
            assert abs(row["altitude"] - float(truth[path]["alt"])) < 1e-6, path
    assert sum(r["latitude"] is not None for r in rows.values()) == len(truth) == 40
    assert rows["images/exiftool__GoPro.jpg"]["altitude"] < 0  # GPSAltitudeRef=1
    assert rows["images/pp__image-2011.jpg"]["gps_flag"] == "null_island"


def test_warc_gives_what_exiftool_gives_on_the_files(extracted, wget_warc, corpus_dir,
                                                     corpus_media):
    """Every column equals the normalised record of ExifTool run on the file itself."""
    rows = db_rows(extracted[0], wget_warc[1])
    with ExifToolPool(1) as pool:
        direct = pool.read([str(corpus_dir / p) for p in corpus_media])
    for path, record in zip(corpus_media, direct):
        expected = normalise(record)
        for column in ("latitude", "longitude", "altitude", "captured_at", "make", "model",
                       "software", "duration_s", "width", "height", "mime_type", "gps_flag"):
            assert rows[path][column] == expected[column], (path, column)
        assert bool(rows[path]["error"]) == bool(expected["error"]), path


def test_broken_corpus_files_have_errors(extracted, wget_warc):
    rows = db_rows(extracted[0], wget_warc[1])
    assert rows["images/pp__empty.jpg"]["error"] == "File is empty"
    assert "not a photo or video" in rows["images/ev__中文.jpg"]["error"]  # a git-lfs pointer
    assert "Truncated" in rows["videos/immich__future42603.mp4"]["error"]


def test_stored_record_keeps_raw_tags_and_says_how_exiftool_ran(extracted, wget_warc):
    """No Composite tags (ExifTool ran with -e, as the record says); the raw GPS ones stay."""
    rows = db_rows(extracted[0], wget_warc[1])
    record = json.loads(rows["images/exiftool__GoPro.jpg"]["exiftool"])
    assert "-e" in record["Lifeboat:ExifToolArgs"].split()
    assert not [key for key in record if key.startswith("Composite:")]
    assert record["GPS:GPSAltitudeRef"] == 1 and "GPS:GPSLatitudeRef" in record
