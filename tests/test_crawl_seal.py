"""`lifeboat crawl --tsa URL`: each WARC file is sealed as it is closed, during a real crawl
of the demo platform with rotation forced by a small --warc-max-size; a dead TSA queues."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.seal import tokens_of
from archive.tsa import read_token
from crawl_helpers import run_crawl
from test_seal import lifeboat, sha256sum_check
from tsa_server import LoopbackTsa, loopback_tsa, make_pki, openssl_ts_verify


def last_warc_date(path: Path) -> datetime:
    with open(path, "rb") as fh:
        dates = [r.rec_headers.get_header("WARC-Date") for r in ArchiveIterator(fh)]
    return datetime.fromisoformat(dates[-1].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def sealed_crawl(tmp_path_factory, demo_platform):
    """A crawl with --tsa and forced rotation: (job dir, crawl output, the TSA)."""
    tmp = tmp_path_factory.mktemp("crawl-seal")
    with loopback_tsa(tmp / "pki") as tsa:
        result = run_crawl(tmp / "job", demo_platform, ids="1-40",
                           extra=("--warc-max-size", "40KB", "--tsa", tsa.url))
    return tmp / "job", result, tsa


def test_each_warc_file_is_sealed_within_a_minute_of_capture(sealed_crawl):
    job, result, tsa = sealed_crawl
    warcs = sorted((job / "warc").glob("*.warc.gz"))
    assert len(warcs) >= 3, "rotation was not forced"
    assert f"seals: {len(warcs)} WARC file(s) sealed, {len(warcs)} time-stamp token(s)" \
        in result.stdout, result.stdout + result.stderr
    for warc in warcs:
        manifest = job / "seals" / (warc.name.removesuffix(".warc.gz") + ".manifest")
        assert manifest.read_text().endswith(f"  {warc.name}\n")
        assert sha256sum_check(job, manifest).returncode == 0
        (token,) = tokens_of(manifest)
        assert openssl_ts_verify(manifest, token, tsa.pki.ca).returncode == 0
        stamped = read_token(token.read_bytes()).gen_time
        lag = (stamped - last_warc_date(warc)).total_seconds()
        assert -2 <= lag < 60, f"{warc.name}: time-stamped {lag:.1f} s after its last record"
    assert not (job / "seals" / "pending.jsonl").exists()
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 0 and out.count("signature checked against --tsa-ca") == len(warcs), out
    assert "not in any seal" not in out


async def test_evidence_page_shows_the_seal_of_its_warc_file(sealed_crawl):
    from datasette_plugins.serve import make_datasette

    job, _, _ = sealed_crawl
    with sqlite3.connect(job / "archive.db") as db:
        sha256, warc_name = db.execute(
            "SELECT m.sha256, c.warc_filename FROM media m JOIN captures c "
            "ON c.id = m.capture_id WHERE c.warc_type = 'response' LIMIT 1").fetchone()
    manifest = job / "seals" / (Path(warc_name).name.removesuffix(".warc.gz") + ".manifest")
    (token,) = tokens_of(manifest)
    stamped = read_token(token.read_bytes())
    ds = make_datasette(job / "archive.db", tiles="/no-tiles/{z}/{x}/{y}.png")
    page = (await ds.client.get(f"/-/evidence/{sha256}")).text
    assert (f"in <code>seals/{manifest.name}</code>, time-stamped "
            f"<time>{stamped.time_text}</time> by {stamped.tsa_name}") in page, page


def test_dead_tsa_never_fails_the_crawl_and_the_next_run_catches_up(tmp_path, demo_platform):
    job = tmp_path / "job"
    tsa = LoopbackTsa(make_pki(tmp_path / "pki"))
    tsa.down()
    result = run_crawl(job, demo_platform, ids="1-20",
                       extra=("--warc-max-size", "40KB", "--tsa", tsa.url))
    warcs = sorted((job / "warc").glob("*.warc.gz"))
    assert len(warcs) >= 2
    assert "token(s) queued (no answer from the TSA)" in result.stdout, result.stdout
    queued = [json.loads(line) for line in (job / "seals" / "pending.jsonl").open()]
    assert sorted(q["manifest"] for q in queued) == \
        sorted(w.name.removesuffix(".warc.gz") + ".manifest" for w in warcs)
    assert not list((job / "seals").glob("*.tsr"))
    # the crawl's own result is whole: every ID in a terminal state
    code, out = lifeboat("verify", str(job))
    assert code == 0 and out.count("1 token(s) still queued") == len(warcs), out

    tsa.up()
    try:  # the next run (more IDs) asks again first, then seals its own files
        run_crawl(job, demo_platform, ids="1-30", extra=("--warc-max-size", "40KB",
                                                          "--tsa", tsa.url))
    finally:
        tsa.down()
    assert not (job / "seals" / "pending.jsonl").exists()
    all_warcs = sorted((job / "warc").glob("*.warc.gz"))
    assert len(all_warcs) > len(warcs)
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 0 and out.count("signature checked against --tsa-ca") == len(all_warcs), out


def test_files_of_a_run_without_tsa_are_sealed_by_the_next_run_with_it(tmp_path,
                                                                        demo_platform):
    job = tmp_path / "job"
    run_crawl(job, demo_platform, ids="1-10", extra=("--warc-max-size", "40KB"))
    before = sorted(p.name for p in (job / "warc").glob("*.warc.gz"))
    with loopback_tsa(tmp_path / "pki") as tsa:
        run_crawl(job, demo_platform, ids="1-20", extra=("--warc-max-size", "40KB",
                                                          "--tsa", tsa.url))
    after = sorted(p.name for p in (job / "warc").glob("*.warc.gz"))
    assert len(after) > len(before)
    manifests = sorted(p.name for p in (job / "seals").glob("*.manifest"))
    assert manifests == sorted(n.removesuffix(".warc.gz") + ".manifest" for n in after)
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 0 and out.count("signature checked against --tsa-ca") == len(after), out


def test_a_tsa_that_never_answers_does_not_hold_the_crawl(tmp_path, demo_platform):
    """A TSA that accepts connections and says nothing (overloaded): the crawl archives
    everything, ends within the sealer's bounded wait, and the tokens are queued."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes connections; nobody ever reads or answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/tsa"
    job = tmp_path / "job"
    started = time.monotonic()
    try:
        result = run_crawl(job, demo_platform, ids="1-20",
                           extra=("--warc-max-size", "40KB", "--tsa", url))
    finally:
        silent.close()
    took = time.monotonic() - started
    assert "token(s) queued (no answer from the TSA)" in result.stdout, result.stdout
    assert took < 60, f"the crawl took {took:.0f} s with a silent TSA"
    code, out = lifeboat("verify", str(job))
    assert code == 0 and "ledger:" in out and "still queued" in out, out
    assert "not in any seal" not in out, "every file closed got its manifest all the same"
    queued = [json.loads(line) for line in (job / "seals" / "pending.jsonl").open()]
    assert queued and all(q["tsa"] == url for q in queued)
