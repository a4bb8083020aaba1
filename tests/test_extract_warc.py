"""`lifeboat extract` on WARCs written by warcio, and on a job directory: robustness,
sniffing, encodings, revisits, idempotence."""

from __future__ import annotations

import gzip
import hashlib
import random
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawl import cli
from metadata.extract import extract_job, extract_warcs
from metadata.samples import WarcItem, write_photo, write_warc
from archive.schema import open_db
from metadata.store import iter_pending

BASE = "http://media.example.test/"


def photo(tmp_path: Path, name: str, lat: float, lon: float, colour=(10, 20, 30)) -> bytes:
    tags = {"GPSLatitude": abs(lat), "GPSLatitudeRef": "S" if lat < 0 else "N",
            "GPSLongitude": abs(lon), "GPSLongitudeRef": "W" if lon < 0 else "E",
            "DateTimeOriginal": "2021:01:06 14:05:09", "OffsetTimeOriginal": "-05:00"}
    return write_photo(tmp_path / name, tags, colour=colour).read_bytes()


def noise(size: int) -> bytes:
    """Fixed random bytes. Not os.urandom: about 1 in 100 fresh draws reads as an MP3
    frame, or as a JPEG that ends cleanly after its APP0 segment, and has no error."""
    return random.Random(1).randbytes(size)


def run_extract(db: Path, *warcs: Path) -> str:
    result = CliRunner().invoke(cli, ["extract", "--db", str(db), *map(str, warcs)])
    assert result.exit_code == 0, result.output
    return result.output


def metadata_by_url(db_path: Path) -> dict[str, dict]:
    db = sqlite_utils.Database(db_path)
    rows = db.query("SELECT m.url, mm.* FROM media m JOIN media_metadata mm USING (sha256)")
    return {row["url"]: row for row in rows}


def chunked(data: bytes, size: int = 100) -> bytes:
    """HTTP/1.1 chunked transfer coding of ``data`` (what a server sends on the wire)."""
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
             for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_broken_payloads_get_an_error_and_the_run_completes(tmp_path):
    good = photo(tmp_path, "good.jpg", -33.8688, -70.6693)
    last = photo(tmp_path, "last.jpg", 51.5, -0.12, colour=(1, 2, 3))
    items = [
        WarcItem(BASE + "good.jpg", good),
        WarcItem(BASE + "noise.jpg", noise(4000)),
        WarcItem(BASE + "corrupt.jpg", b"\xff\xd8\xff\xe0" + noise(4000)),
        WarcItem(BASE + "empty.jpg", b""),
        WarcItem(BASE + "page.jpg", b"<html><body>Sorry, not found</body></html>"),
        WarcItem(BASE + "cut.jpg", good[:500], content_length=len(good) + 1),
        WarcItem(BASE + "last.jpg", last),
    ]
    warc = tmp_path / "broken.warc.gz"
    write_warc(warc, items)
    output = run_extract(tmp_path / "x.db", warc)
    assert "extracted 7 new media" in output
    rows = metadata_by_url(tmp_path / "x.db")
    assert set(rows) == {item.url for item in items}
    for name in ("noise", "corrupt", "empty", "page", "cut"):
        assert rows[BASE + f"{name}.jpg"]["error"], name
    assert "File is empty" in rows[BASE + "empty.jpg"]["error"]
    assert "not a photo or video" in rows[BASE + "page.jpg"]["error"]
    assert "truncated payload" in rows[BASE + "cut.jpg"]["error"]
    for name, (lat, lon) in {"good": (-33.8688, -70.6693), "last": (51.5, -0.12)}.items():
        row = rows[BASE + f"{name}.jpg"]
        assert row["error"] is None
        assert abs(row["latitude"] - lat) < 1e-6 and abs(row["longitude"] - lon) < 1e-6
        assert row["captured_at"] == "2021-01-06T14:05:09-05:00"


def test_media_found_by_content_and_encodings_undone(tmp_path):
    jpeg = photo(tmp_path, "a.jpg", 12.5, 45.25)
    other = photo(tmp_path, "b.jpg", -1.5, -2.5, colour=(99, 0, 0))
    third = photo(tmp_path, "c.jpg", 3.0, 4.0, colour=(0, 99, 0))
    items = [
        WarcItem(BASE + "octet", jpeg, content_type="application/octet-stream"),
        WarcItem(BASE + "untyped", other, content_type=None),
        WarcItem(BASE + "gz.jpg", gzip.compress(third), headers=[("Content-Encoding", "gzip")]),
        WarcItem(BASE + "chunked.jpg", chunked(gzip.compress(jpeg + b"")),
                 headers=[("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]),
        WarcItem(BASE + "index.html", b"<html><p>hello</p></html>", content_type="text/html"),
        WarcItem("file:///photos/b.jpg", other, content_type="image/jpeg",
                 record_type="resource"),
    ]
    warc = tmp_path / "mixed.warc"
    write_warc(warc, items, gzip=False)
    run_extract(tmp_path / "x.db", warc)
    db = sqlite_utils.Database(tmp_path / "x.db")
    media = {row["url"]: row for row in db["media"].rows}
    assert set(media) == {BASE + "octet", BASE + "untyped", BASE + "gz.jpg",
                          BASE + "chunked.jpg", "file:///photos/b.jpg"}
    assert media[BASE + "octet"]["content_type"] == "image/jpeg"  # sniffed
    assert media[BASE + "gz.jpg"]["sha256"] == hashlib.sha256(third).hexdigest()
    assert media[BASE + "chunked.jpg"]["sha256"] == hashlib.sha256(jpeg).hexdigest()
    rows = metadata_by_url(tmp_path / "x.db")
    assert abs(rows[BASE + "gz.jpg"]["latitude"] - 3.0) < 1e-9
    assert abs(rows[BASE + "untyped"]["longitude"] + 2.5) < 1e-9
    assert db["media_metadata"].count == 3  # three distinct payloads, each extracted once
    captures = {row["url"]: row for row in db["captures"].rows}
    resource = captures["file:///photos/b.jpg"]
    assert resource["warc_type"] == "resource" and resource["status"] is None
    assert captures[BASE + "octet"]["payload_size"] == len(jpeg)
    assert all(c["warc_filename"] == str(warc.resolve()) for c in captures.values())


def test_rerun_extracts_only_what_is_new(tmp_path):
    first = photo(tmp_path, "1.jpg", 10.0, 20.0)
    second = photo(tmp_path, "2.jpg", -30.0, -40.0, colour=(50, 50, 50))
    warc1, warc2 = tmp_path / "one.warc.gz", tmp_path / "two.warc.gz"
    write_warc(warc1, [WarcItem(BASE + "1.jpg", first), WarcItem(BASE + "1-again.jpg", first)])
    db_path = tmp_path / "x.db"
    assert "extracted 1 new media" in run_extract(db_path, warc1)
    db = sqlite_utils.Database(db_path)
    before = {t: db[t].count for t in ("captures", "media", "media_metadata")}
    assert before == {"captures": 2, "media": 2, "media_metadata": 1}
    assert "extracted 0 new media" in run_extract(db_path, warc1)
    assert {t: db[t].count for t in before} == before
    write_warc(warc2, [WarcItem(BASE + "2.jpg", second), WarcItem(BASE + "1-third.jpg", first)])
    result = extract_warcs([warc1, warc2], db_path, progress=False)
    assert result.extracted == 1 and result.with_position == 1
    assert {t: db[t].count for t in before} == {"captures": 4, "media": 4, "media_metadata": 2}


def test_revisit_records_point_at_the_media_they_repeat(tmp_path):
    jpeg = photo(tmp_path, "r.jpg", -8.5, 115.25)
    warc = tmp_path / "revisits.warc.gz"
    write_warc(warc, [WarcItem(BASE + "r.jpg", jpeg),
                      WarcItem(BASE + "r-again.jpg", jpeg, record_type="revisit",
                               revisit_of=BASE + "r.jpg")])
    run_extract(tmp_path / "x.db", warc)
    db = sqlite_utils.Database(tmp_path / "x.db")
    captures = {row["url"]: row for row in db["captures"].rows}
    revisit, original = captures[BASE + "r-again.jpg"], captures[BASE + "r.jpg"]
    assert revisit["warc_type"] == "revisit"
    assert revisit["refers_to"] == original["warc_record_id"]
    assert revisit["payload_sha256"] == original["payload_sha256"]
    rows = metadata_by_url(tmp_path / "x.db")
    assert abs(rows[BASE + "r-again.jpg"]["latitude"] + 8.5) < 1e-9
    assert db["media_metadata"].count == 1


def make_job(job_dir: Path, items: list[WarcItem],
             revisit_of: dict[str, str]) -> sqlite_utils.Database:
    """A job directory as the crawl leaves it: warc/ plus captures and media rows.

    ``revisit_of`` maps a URL to the URL of an earlier capture: its capture row becomes a
    revisit (no payload of its own in the crawl's WARC), as the crawl's dedup writes.
    """
    (job_dir / "warc").mkdir(parents=True)
    name = "job-20210106140509-00000.warc.gz"
    written = write_warc(job_dir / "warc" / name, items)
    db = open_db(job_dir / "archive.db")
    ids = {}
    for item, where in zip(items, written):
        sha = hashlib.sha256(item.payload).hexdigest()
        original = revisit_of.get(item.url)
        ids[item.url] = db["captures"].insert({
            "url": item.url, "status": 200, "content_type": item.content_type,
            "warc_filename": name, "warc_offset": where.offset, "warc_length": where.length,
            "warc_record_id": where.record_id, "payload_sha256": sha,
            "payload_size": len(item.payload), "fetched_at": "2021-01-06T14:05:09Z",
            "warc_type": "revisit" if original else "response",
            "refers_to": None}).last_pk
        db["media"].insert({"url": item.url, "sha256": sha, "content_type": item.content_type,
                            "size": len(item.payload), "capture_id": ids[item.url]}, pk="url")
    for url, original in revisit_of.items():  # the revisit refers to the first capture
        first_id = db["captures"].get(ids[original])["warc_record_id"]
        db["captures"].update(ids[url], {"refers_to": first_id})
        db["media"].delete(original)  # only the revisit is linked to a media row
    return db


def test_job_directory_extraction_with_revisits_and_reruns(tmp_path):
    a = photo(tmp_path, "a.jpg", -45.0, 170.0)
    b = photo(tmp_path, "b.jpg", 60.0, -150.0, colour=(5, 5, 5))
    job = tmp_path / "job"
    db = make_job(job, [WarcItem(BASE + "a.jpg", a), WarcItem(BASE + "a-repost.jpg", a),
                        WarcItem(BASE + "b.jpg", b), WarcItem(BASE + "b-reupload.jpg", b)],
                  revisit_of={BASE + "a-repost.jpg": BASE + "a.jpg"})
    paged = list(iter_pending(db, job, page=1))  # pages of one row: the same, in order
    assert [p.sha256 for p in paged] == [p.sha256 for p in iter_pending(db, job)]
    assert len(paged) == 3 and len({p.sha256 for p in paged}) == 2
    assert all(p.warc_path.is_file() for p in paged)
    result = extract_job(job, progress=False)
    assert (result.extracted, result.with_position, result.errors) == (2, 2, 0)
    rows = metadata_by_url(job / "archive.db")
    assert abs(rows[BASE + "a-repost.jpg"]["latitude"] + 45.0) < 1e-9  # via the revisit
    assert abs(rows[BASE + "b-reupload.jpg"]["longitude"] + 150.0) < 1e-9
    assert rows[BASE + "b.jpg"]["exiftool_version"]
    assert extract_job(job, progress=False).extracted == 0

    c = photo(tmp_path, "c.jpg", 1.0, 2.0, colour=(7, 7, 7))
    extra = job / "warc" / "job-20210106150000-00001.warc.gz"
    [where] = write_warc(extra, [WarcItem(BASE + "c.jpg", c)])
    capture = db["captures"].insert({"url": BASE + "c.jpg", "warc_filename": extra.name,
                                     "warc_offset": where.offset, "warc_type": "response",
                                     "warc_record_id": where.record_id,
                                     "payload_sha256": hashlib.sha256(c).hexdigest()}).last_pk
    db["media"].insert({"url": BASE + "c.jpg", "sha256": hashlib.sha256(c).hexdigest(),
                        "capture_id": capture})
    output = CliRunner().invoke(cli, ["extract", str(job)]).output
    assert "extracted 1 new media (1 with a position, 0 with errors)" in output
    assert "3 already done" in CliRunner().invoke(cli, ["extract", str(job)]).output
    assert db["media_metadata"].count == 3

    counts = {t: db[t].count for t in ("captures", "media", "media_metadata")}
    output = run_extract(job / "archive.db", *sorted((job / "warc").iterdir()))
    assert "extracted 0 new media" in output  # the job's own WARCs through --db: no copies
    assert db["captures"].count == counts["captures"]
    assert db["media_metadata"].count == counts["media_metadata"]
    assert db["media"].count == counts["media"] + 1  # a.jpg's row, which make_job removed


def test_extract_refuses_a_directory_without_a_database(tmp_path):
    result = CliRunner().invoke(cli, ["extract", str(tmp_path)])
    assert result.exit_code == 1 and "--db FILE" in result.output


@pytest.mark.corpus
def test_broken_archives_from_the_corpus_do_not_stop_the_run(corpus_dir, tmp_path):
    warcs = sorted((corpus_dir / "warcs").iterdir())
    result = extract_warcs(warcs, tmp_path / "x.db", progress=False)
    assert result.unreadable  # the corpus has archives warcio refuses; they are reported
    assert any("example-wrong-chunks" in problem for problem in result.unreadable)
