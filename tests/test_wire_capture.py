"""The WARC holds the bytes that crossed the wire (issue 13).

A raw-socket server (``tests/wire_server.py``) writes fixed bytes: odd reason phrases,
lower-case and repeated headers, chunked framing with trailers, UTF-8 header bytes,
HTTP/1.0 bodies that end at the close, resets mid-body... ``lifeboat crawl`` archives
them; each response record's block must be those bytes and each request record's block
the bytes the server received. Peers you did not write check the same WARC: ``warcio
check``, GNU wget archiving the same answers (``--warc-file``) and pywb replaying them.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archive.reader import open_record
from crawl_helpers import ROOT, loopback_profile, profile_args, rows, run_profile, warc_blocks
from wire_server import (ANSWERS, INTERIM, NAMES, REFUSED, RESET, STATIC, WireServer, body,
                         case_path)

pytestmark = pytest.mark.timeout(240)

PROFILE = loopback_profile("wire", f"""
[politeness]
retry_times = 1
backoff_base = 0.05
start_delay = 0.01
obey_robots = false
[items.case]
url = "${{base}}/case/{{id}}"
parse = "none"
table = "media"
[items.case.ids]
start = 1
stop = {len(NAMES)}
""")


@pytest.fixture(scope="module")
def wire(tmp_path_factory):
    """(job directory, server) after a crawl of every case."""
    tmp = tmp_path_factory.mktemp("wire")
    with WireServer() as server:
        run_profile(PROFILE, tmp / "wire.toml", tmp / "job", server.url)
        yield tmp / "job", server


def job_warcs(job: Path) -> list[Path]:
    return sorted((job / "warc").glob("*.warc.gz"))


def blocks_by_url(paths: list[Path], kind: str) -> dict[str, list[tuple[object, bytes]]]:
    """path of the target URL -> [(WARC headers, block)] of its ``kind`` records, in order."""
    out: dict[str, list] = {}
    for headers, block in warc_blocks(paths):
        if headers.get_header("WARC-Type") == kind:
            url = headers.get_header("WARC-Target-URI").strip("<>")
            out.setdefault("/" + url.split("/", 3)[3], []).append((headers, block))
    return out


def test_response_blocks_are_the_bytes_sent(wire):
    job, _ = wire
    responses = blocks_by_url(job_warcs(job), "response")
    for name in STATIC:
        found = responses[case_path(name)]
        if name == "server-error":  # retried once: both answers archived
            assert len(found) == 2
        for headers, block in found:
            assert block == ANSWERS[name], name
            assert headers.get_header("WARC-Truncated") is None, name
            assert headers.get_header("WARC-IP-Address") == "127.0.0.1"


def test_resets_mid_body_are_data_loss_archived_as_truncated(wire):
    job, _ = wire
    responses = blocks_by_url(job_warcs(job), "response")
    for name in RESET:
        found = responses[case_path(name)]
        assert len(found) == 2, name  # retried once, both attempts archived
        for headers, block in found:
            assert block == ANSWERS[name], name
            assert headers.get_header("WARC-Truncated") == "disconnect", name
        item = str(NAMES.index(name) + 1)
        state, reason = rows(job, "SELECT state, reason FROM ledger WHERE id = ?", (item,))[0]
        assert state == "failed" and reason.startswith("truncated"), (name, reason)


def test_interim_answers_are_kept_in_their_own_record(wire):
    """1xx heads (100 Continue, 103 Early Hints) come before the answer: the response
    record's block is the final answer (warcio would read a block starting with a 1xx as
    status 100, and pywb replay it so), the 1xx heads are a metadata record concurrent to
    it, byte for byte; together they are everything the server sent."""
    job, _ = wire
    responses = blocks_by_url(job_warcs(job), "response")
    interims = {h.get_header("WARC-Concurrent-To"): (h, b) for h, b in warc_blocks(job_warcs(job))
                if h.get_header("Content-Type") == "application/http; msgtype=response"
                and h.get_header("WARC-Type") == "metadata"}
    assert len(interims) == len(INTERIM)
    for name, count in INTERIM.items():
        ((headers, block),) = responses[case_path(name)]
        meta, interim = interims[headers.get_header("WARC-Record-ID")]
        assert meta.get_header("WARC-Target-URI") is None  # pywb would replay it for the URL
        assert interim + block == ANSWERS[name], name
        assert interim.count(b"HTTP/1.1 1") == count and block.startswith(b"HTTP/1.1 200 OK")
        assert rows(job, "SELECT status, payload_sha256 FROM captures WHERE url LIKE ?",
                    (f"%{case_path(name)}",)) == [(200, hashlib.sha256(body(name)).hexdigest())]
        item = str(NAMES.index(name) + 1)
        assert rows(job, "SELECT state FROM ledger WHERE id = ?", (item,)) == [("archived",)]


def test_refused_answers_are_archived_as_received(wire):
    """Answers llhttp refuses (a garbage status line, no HTTP at all, a header line
    without a colon, a bad chunk size) and one cut off in its head: each attempt is a
    response record whose block is the bytes the server sent, its request record linked
    to it, a captures row names it, and the item is failed with the parser's reason."""
    job, _ = wire
    responses = blocks_by_url(job_warcs(job), "response")
    requests = blocks_by_url(job_warcs(job), "request")
    for name, why in REFUSED.items():
        item = str(NAMES.index(name) + 1)
        state, reason, attempts = rows(
            job, "SELECT state, reason, attempts FROM ledger WHERE id = ?", (item,))[0]
        assert state == "failed" and why in reason, (name, reason)
        found = responses[case_path(name)]
        assert len(found) == attempts == 2, name  # retried once: both attempts archived
        ids = set()
        for headers, block in found:
            assert block == ANSWERS[name], name
            truncated = headers.get_header("WARC-Truncated")
            assert truncated == ("disconnect" if name == "head-cut-off" else None), name
            ids.add(headers.get_header("WARC-Record-ID"))
        assert {h.get_header("WARC-Concurrent-To") for h, _ in requests[case_path(name)]} == ids
        captured = rows(job, "SELECT warc_record_id, warc_type FROM captures WHERE url LIKE ?",
                        (f"%{case_path(name)}",))
        assert {rid for rid, _ in captured} == ids and {t for _, t in captured} == {"response"}


def test_request_blocks_are_the_bytes_received(wire):
    job, server = wire
    requests = blocks_by_url(job_warcs(job), "request")
    for name in NAMES:
        path = case_path(name)
        sent = [block for _, block in requests[path]]
        assert sent == server.requests[path], name


def test_rows_describe_the_payload_and_warcio_and_verify_agree(wire):
    job, _ = wire
    item = str(NAMES.index("chunked-trailers") + 1)
    sha, size = rows(job, "SELECT sha256, size FROM media WHERE url LIKE ?",
                     (f"%{case_path('chunked-trailers')}",))[0]
    payload = body("chunked-trailers")
    assert (sha, size) == (hashlib.sha256(payload).hexdigest(), len(payload))  # de-chunked
    assert rows(job, "SELECT state FROM ledger WHERE id = ?", (item,)) == [("archived",)]
    warcio = Path(sys.executable).with_name("warcio")
    check = subprocess.run([str(warcio), "check", "-v", *map(str, job_warcs(job))],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "fail" not in check.stdout
    verify = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "verify", str(job)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_verify_checks_block_digests_over_the_bytes_as_received(wire, tmp_path):
    """One byte of a reason phrase changed in the WARC: the response record and the
    revisit record (its head only) that hold it both fail their block digest."""
    job, _ = wire
    folder = tmp_path / "warcs"
    folder.mkdir()
    data = b"".join(gzip.decompress(p.read_bytes()) for p in job_warcs(job))
    assert data.count(b"HTTP/1.1 200 Okay Then\r\n") == 2  # the item, and its redirect's hop
    kinds = {h.get_header("WARC-Type") for h, b in warc_blocks(job_warcs(job))
             if b.startswith(b"HTTP/1.1 200 Okay Then")}
    assert kinds == {"response", "revisit"}
    (folder / "intact.warc").write_bytes(data)
    verify = [sys.executable, str(ROOT / "crawl.py"), "verify", str(folder)]
    result = subprocess.run(verify, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder / "intact.warc").write_bytes(data.replace(b"200 Okay Then", b"200 Okay Than"))
    result = subprocess.run(verify, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout.count("block digest failed") == 2, result.stdout


def test_wget_archives_the_same_blocks(wire, tmp_path):
    """GNU wget's --warc-file of the same answers holds the same response blocks, except
    that wget 1.21 reads a single line after the last chunk: the rest of the trailer
    section (further trailers, the final CRLF) is not in its block. (wget writes no
    response record at all for a 204.)"""
    job, server = wire
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url}{case_path(n)}\n" for n in STATIC), encoding="utf-8")
    subprocess.run(["wget", "-q", "--tries=1", "--max-redirect=0", "--no-warc-compression",
                    "--warc-file", str(tmp_path / "wget"), "-O", os.devnull, "-i", str(urls)],
                   cwd=tmp_path, timeout=60)  # exits 8 on the 4xx/5xx answers
    theirs = blocks_by_url([tmp_path / "wget.warc"], "response")
    ours = blocks_by_url(job_warcs(job), "response")
    for name in STATIC:
        if name == "no-body-204":
            assert case_path(name) not in theirs
            continue
        (_, wget_block), = theirs[case_path(name)]
        our_block = ours[case_path(name)][-1][1]
        if name == "chunked-trailers":  # wget stopped after "X-Checksum: abc\r\n"
            assert our_block == wget_block + b"X-Other: 1\r\n\r\n"
        else:
            assert our_block == wget_block, name


# ------------------------------------------------------------------ replay (pywb)

@contextlib.contextmanager
def pywb_serving(warcs: list[Path], tmp_path: Path):
    """pywb's wayback serving ``warcs``; yields its collection's base URL."""
    from test_replay import COLLECTION, pywb_venv, wayback_in

    venv = pywb_venv()
    subprocess.run([str(venv / "bin" / "wb-manager"), "init", COLLECTION], cwd=tmp_path,
                   check=True, capture_output=True, timeout=120)
    subprocess.run([str(venv / "bin" / "wb-manager"), "add", COLLECTION,
                    *map(str, warcs)], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    with wayback_in(tmp_path) as base:
        yield f"{base}/{COLLECTION}"


def test_pywb_replays_the_payloads(wire, tmp_path):
    job, _ = wire
    with pywb_serving(job_warcs(job), tmp_path) as base:
        urls = dict(rows(job, "SELECT url, url FROM captures WHERE status = 200"))
        for name in ("reason-phrase", "lower-case-names", "chunked-trailers", "chunked-plain",
                     "utf8-header", "http10-close", "http11-close", "bare-lf", "binary-body",
                     "continue-100", "early-hints-103"):  # the final answer, not a 1xx
            url = next(u for u in urls if u.endswith(case_path(name)))
            with urllib.request.urlopen(f"{base}/2id_/{url}", timeout=30) as answer:
                replayed = answer.read()
            expected = bytes(range(256)) * 4 if name == "binary-body" else body(name)
            if name == "chunked-trailers":  # pywb's warcio 1.8 de-chunks without trailers:
                assert replayed.startswith(expected)  # the trailer section follows the body
                continue
            assert replayed == expected, name


# ------------------------------------------------------------------ bounded memory

def crawl_rss(profile: str, tmp: Path, base: str) -> int:
    """Run a crawl; return its peak RSS in MB. Read from the crawl process's own VmHWM
    (polled in /proc): wait4's ru_maxrss would start at pytest's RSS, which Linux carries
    into a spawned child across exec."""
    (tmp / "p.toml").write_text(profile, encoding="utf-8")
    proc = subprocess.Popen(profile_args(tmp / "p.toml", tmp / "job", base), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak_kb = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            lines = status.read_text().splitlines()
        except OSError:
            break
        for line in lines:
            if line.startswith("VmHWM:"):
                peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.02)
    output = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == 0, output
    return peak_kb // 1024


def test_large_media_body_streams_to_disk(tmp_path):
    """A 96 MB video is never held in memory (nor would a 2 GB one be): peak RSS of the
    whole crawl stays under 160 MB (about 85 MB measured; about 370 MB when the body was
    kept in memory), and the record holds every byte."""
    size = 96 << 20
    profile = loopback_profile("big", f"""
[politeness]
obey_robots = false
timeout = 120
[items.video]
url = "${{base}}/big/{{id}}"
parse = "none"
table = "media"
[items.video.ids]
start = {size}
stop = {size}
""")
    with WireServer() as server:
        peak_mb = crawl_rss(profile, tmp_path, server.url)
    assert peak_mb < 160, peak_mb
    ((sha, stored),) = rows(tmp_path / "job", "SELECT sha256, size FROM media")
    block = (bytes(range(256)) * 4096)
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)
    assert (sha, stored) == (digest.hexdigest(), size)
    name, offset = rows(tmp_path / "job", "SELECT warc_filename, warc_offset FROM captures")[0]
    with open_record(tmp_path / "job" / "warc" / name, offset) as record:
        again = hashlib.sha256()
        while chunk := record.content_stream().read(1 << 20):
            again.update(chunk)
    assert again.hexdigest() == sha


def test_endless_trailers_are_cut_off(tmp_path):
    profile = loopback_profile("trailers", """
[politeness]
obey_robots = false
retry_times = 1
backoff_base = 0.05
[items.t]
url = "${base}/trailers/{id}"
parse = "none"
table = "media"
[items.t.ids]
start = 1
stop = 1
""")
    with WireServer() as server:
        peak_mb = crawl_rss(profile, tmp_path, server.url)
    assert peak_mb < 200, peak_mb
    job = tmp_path / "job"
    state, reason = rows(job, "SELECT state, reason FROM ledger")[0]
    assert state == "failed" and "trailers" in reason, reason
    attempts = blocks_by_url(job_warcs(job), "response")["/trailers/1"]
    assert len(attempts) == 2  # retried once; what came before the cut is archived
    for headers, block in attempts:
        assert headers.get_header("WARC-Truncated") == "length"
        assert block.startswith(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"5\r\nhello\r\n0\r\nX-Trailer: ttt")
        assert 2 << 20 < len(block) < 8 << 20


# ------------------------------------------------------------------ TLS

def expired_chain(tmp: Path) -> tuple[ssl.SSLContext, list[bytes]]:
    """A TLS server context whose certificate (expired last year) is signed by a throwaway
    CA; and the chain it shows, leaf first, as DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("lifeboat test CA"))
          .issuer_name(name("lifeboat test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=800))
          .not_valid_after(now + datetime.timedelta(days=800))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=700))
            .not_valid_after(now - datetime.timedelta(days=365))
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (tmp / "key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    der = serialization.Encoding.DER
    return context, [leaf.public_bytes(der), ca.public_bytes(der)]


class TlsPosts(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ports: set = set()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        TlsPosts.ports.add(self.client_address[1])
        body = b'{"path": "%s"}' % self.path.encode()
        self.send_response(200 if self.path.startswith("/t/") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_tls_with_an_expired_certificate_is_archived_with_its_chain(tmp_path):
    context, chain = expired_chain(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), TlsPosts)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = loopback_profile("tls", """
[politeness]
autothrottle = false
concurrency = 1
obey_robots = false
[items.t]
url = "${base}/t/{id}"
parse = "none"
table = "media"
[items.t.ids]
start = 1
stop = 6
""")
    try:
        run_profile(profile, tmp_path / "tls.toml", tmp_path / "job",
                    f"https://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    job = tmp_path / "job"
    assert rows(job, "SELECT count(*) FROM ledger WHERE state = 'archived'") == [(6,)]
    records = warc_blocks(job_warcs(job))
    by_id = {h.get_header("WARC-Record-ID"): (h, b) for h, b in records}
    metadata = [(h, b) for h, b in records if h.get_header("WARC-Type") == "metadata"]
    assert 1 <= len(metadata) == len(TlsPosts.ports) < 6  # once per connection
    for headers, block in metadata:
        assert headers.get_header("Content-Type") == "application/pem-certificate-chain"
        assert headers.get_header("WARC-Target-URI") is None  # pywb would replay it
        assert [ssl.PEM_cert_to_DER_cert(p.decode() + "-----END CERTIFICATE-----\n")
                for p in block.split(b"-----END CERTIFICATE-----\n")[:-1]] == chain
        assert by_id[headers.get_header("WARC-Concurrent-To")][0].get_header(
            "WARC-Type") == "response"
    (tmp_path / "archived.pem").write_bytes(metadata[0][1])
    shown = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in",
                            str(tmp_path / "archived.pem")], capture_output=True, text=True)
    assert shown.returncode == 0 and "notAfter=" in shown.stdout, shown.stderr
    for headers, _ in records:
        if headers.get_header("WARC-Type") not in ("response", "request"):
            continue
        protocols = [v for k, v in headers.headers if k == "WARC-Protocol"]
        assert protocols[0] == "http/1.1" and protocols[1].startswith("tls/1."), protocols
        assert headers.get_header("WARC-Cipher-Suite")
        if headers.get_header("WARC-Type") == "response":  # names its connection's chain
            linked = by_id[headers.get_header("WARC-Concurrent-To")][0]
            assert linked.get_header("WARC-Type") == "metadata"
    warcio = Path(sys.executable).with_name("warcio")
    check = subprocess.run([str(warcio), "check", *map(str, job_warcs(job))],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    verify = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "verify", str(job)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # pywb replays each answer, not the chain recorded with the first of its connection
    # (the answers carry no Content-Type: pywb's "unk" sorted after the chain's type)
    with pywb_serving(job_warcs(job), tmp_path) as base:
        for n in range(1, 7):
            url = f"https://127.0.0.1:{server.server_port}/t/{n}"
            with urllib.request.urlopen(f"{base}/2id_/{url}", timeout=30) as answer:
                assert answer.read() == b'{"path": "/t/%d"}' % n
