"""`lifeboat pack DIR`: a CDXJ index and a WACZ package, for replay in pywb and ReplayWeb.page.

- ``DIR/indexes/index.cdxj``: every response, revisit and resource record of ``DIR/warc/``,
  indexed by cdxj-indexer (pywb reads it with ``archive_paths`` pointing at ``DIR/warc/``);
- ``DIR/<job>.wacz``: the WARCs, their index, the crawl logs and a pages list with one page
  per archived post (URL, capture time, a title naming the post and its author), built and
  checked by the ``wacz`` package, so ReplayWeb.page opens the archive on its post list.

A directory with ``warc/`` but no ``archive.db`` (another tool's WARCs) is packed too; its
pages list is then the HTML pages the ``wacz`` package detects.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from contextlib import closing, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from warcio.timeutils import timestamp_to_iso_date
from wacz.main import main as wacz_main

from archive.exceptions import ArchiveError
from archive.cdxj import read_cdxj, write_cdxj
from archive.job import warc_prefix
from archive.schema import DB_NAME
from archive.verify import find_warcs, open_readonly

TITLE_TEXT_CHARS = 80


class PackError(ArchiveError):
    """Packing failed; the message says why and what to do."""


@dataclass(frozen=True)
class PackResult:
    cdxj: Path
    cdxj_lines: int
    wacz: Path
    pages: int
    warcs: int
    pages_are_posts: bool
    signed_by: str = ""  # the signing server's domain, with --sign
    signed_at: str = ""


def pack_job(job_dir: Path, sign_url: str | None = None,
             sign_token: str | None = None) -> PackResult:
    """Write ``indexes/index.cdxj`` and ``<job>.wacz`` for the job in ``job_dir``; with
    ``sign_url``, the WACZ's ``datapackage-digest.json`` is signed by that signing server
    (webrecorder's authsign API, as ``wacz create --signing-url`` uses it)."""
    job_dir = Path(job_dir)
    warcs = find_warcs(job_dir) if (job_dir / "warc").is_dir() else []
    if not warcs:
        raise PackError(f"{job_dir}/warc/ holds no WARC files: run `lifeboat crawl ... "
                        f"--out {job_dir}` first")
    cdxj = job_dir / "indexes" / "index.cdxj"
    lines = write_cdxj(warcs, cdxj)
    pages = post_pages(job_dir, cdxj)
    wacz = job_dir / f"{warc_prefix(job_dir)}.wacz"
    count = write_wacz(wacz, warcs, pages, logs=job_dir / "logs",
                       title=f"lifeboat archive: {job_dir.resolve().name}",
                       description=_description(job_dir), sign_url=sign_url,
                       sign_token=sign_token)
    signed = signature(wacz) if sign_url else {}
    return PackResult(cdxj=cdxj, cdxj_lines=lines, wacz=wacz, pages=count,
                      warcs=len(warcs), pages_are_posts=pages is not None,
                      signed_by=signed.get("domain", ""), signed_at=signed.get("created", ""))


def post_pages(job_dir: Path, cdxj: Path) -> list[dict] | None:
    """One page per archived (not deleted) post: its URL, capture time and a title.

    None when the job has no database (then the WACZ's pages are detected HTML pages)."""
    db_path = job_dir / DB_NAME
    if not db_path.is_file():
        return None
    when = {line.position: line.timestamp for line in read_cdxj(cdxj)}
    with closing(open_readonly(db_path)) as db:
        rows = db.execute("""
            SELECT p.id, p.author, p.text, c.url, c.warc_filename, c.warc_offset
            FROM posts p JOIN captures c ON c.id = p.capture_id
            WHERE NOT p.deleted ORDER BY c.id""").fetchall()
    pages = []
    for post_id, author, text, url, filename, offset in rows:
        timestamp = when.get((Path(filename).name, offset))
        if timestamp is None:
            raise PackError(f"post {post_id}: its record ({filename} @ offset {offset}) is "
                            f"not in the index; run `lifeboat verify {job_dir}`")
        pages.append({"url": url, "ts": timestamp_to_iso_date(timestamp),
                      "title": _title(post_id, author, text)})
    return pages


def write_wacz(out: Path, warcs: list[Path], pages: list[dict] | None,
               logs: Path | None = None, title: str = "", description: str = "",
               sign_url: str | None = None, sign_token: str | None = None) -> int:
    """Build ``out`` with the ``wacz`` package and return its number of pages.

    Every one of ``pages`` must match an archived record; None detects HTML pages instead.
    With ``sign_url`` the WACZ must come out signed, or nothing is written."""
    partial = out.with_name(out.name + ".partial")
    args = ["create", "-o", str(partial), *map(str, warcs), "--hash-type", "sha256"]
    if sign_url:
        args += ["--signing-url", sign_url]
        if sign_token:
            args += ["--signing-token", sign_token]
    if title:
        args += ["--title", title]
    if description:
        args += ["--desc", description]
    if logs is not None and logs.is_dir() and all(p.is_file() for p in logs.iterdir()):
        args += ["--log-directory", str(logs)]
    pages_file = out.with_name(out.stem + ".pages.jsonl")
    if pages is None:
        args.append("--detect-pages")
    elif pages:
        with open(pages_file, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"format": "json-pages-1.0", "id": "pages",
                                 "title": "Archived posts"}) + "\n")
            for page in pages:
                fh.write(json.dumps(page, ensure_ascii=False) + "\n")
        args += ["--pages", str(pages_file)]
    said = io.StringIO()
    try:
        with redirect_stdout(said):
            code = wacz_main(args)
    except (ValueError, OSError) as exc:  # the wacz package raises when signing fails
        partial.unlink(missing_ok=True)
        raise PackError(f"wacz create failed: {exc}" + (
            f"; is the signing server at {sign_url} up, and the token right?"
            if sign_url else "")) from None
    finally:
        pages_file.unlink(missing_ok=True)
    if code == 0 and sign_url and not signature(partial):
        partial.unlink(missing_ok=True)
        raise PackError(f"the signing server at {sign_url} did not sign the WACZ (nothing "
                        f"written):\n{said.getvalue().strip()}")
    packed = _count_pages(partial) if code == 0 else 0
    if code != 0 or (pages is not None and packed != len(pages)):
        partial.unlink(missing_ok=True)
        raise PackError(f"wacz create failed ({packed} of {len(pages or ())} pages matched a "
                        f"record):\n{said.getvalue().strip()}")
    os.replace(partial, out)
    return packed


def signature(wacz: Path) -> dict:
    """The ``signedData`` of a WACZ's ``datapackage-digest.json`` ({} if unsigned)."""
    with zipfile.ZipFile(wacz) as zf:
        if "datapackage-digest.json" not in zf.namelist():
            return {}
        return json.loads(zf.read("datapackage-digest.json")).get("signedData") or {}


def _count_pages(wacz: Path) -> int:
    with zipfile.ZipFile(wacz) as zf:
        if "pages/pages.jsonl" not in zf.namelist():
            return 0
        with zf.open("pages/pages.jsonl") as fh:
            return max(0, sum(1 for line in fh if line.strip()) - 1)


def _title(post_id: str, author: str | None, text: str | None) -> str:
    head = f"Post {post_id}" + (f" by {author}" if author else "")
    if not text:
        return head
    text = " ".join(text.split())
    return f"{head}: {text[:TITLE_TEXT_CHARS]}" + ("..." if len(text) > TITLE_TEXT_CHARS else "")


def _description(job_dir: Path) -> str:
    return (f"Posts and media archived by lifeboat into {job_dir.resolve().name}/warc/; "
            "the SQLite database (archive.db) beside this file holds the extracted rows.")
