"""A real RFC 3161 time-stamping authority on loopback, for the chain-of-custody tests.

A throwaway CA and a TSA certificate (extendedKeyUsage critical timeStamping) are made by
the ``openssl`` program in a temporary directory; an ``http.server`` on port 0 takes each
POSTed query and answers with what ``openssl ts -reply`` makes of it. ``down()`` makes it
refuse connections (the port is closed) until ``up()``.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXTENSIONS = """\
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    result = subprocess.run(["openssl", *args], cwd=cwd, input=data, capture_output=True,
                            timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout


@dataclass
class Pki:
    """A throwaway CA and a TSA certificate it issued, with the ``openssl ts`` config."""

    dir: Path
    ca: Path  # the CA certificate (PEM): what `--tsa-ca` and `openssl ts -verify -CAfile` take
    config: Path


def make_pki(directory: Path, name: str = "lifeboat test TSA") -> Pki:
    """A CA and a TSA certificate made by openssl (EC P-256) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
             "-subj", f"/CN={name} root CA", "-addext", "basicConstraints=critical,CA:true",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr",
             "-subj", f"/CN={name}", cwd=directory)
    (directory / "tsa.ext").write_text(TSA_EXTENSIONS)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", "tsa.ext", "-out", "tsa.pem",
             cwd=directory)
    (directory / "serial").write_text("01\n")
    config = directory / "tsa.cnf"
    config.write_text(TSA_CONFIG.format(dir=directory))
    return Pki(dir=directory, ca=directory / "ca.pem", config=config)


class LoopbackTsa:
    """``openssl ts -reply`` behind HTTP on 127.0.0.1; ``url`` is where to POST queries."""

    def __init__(self, pki: Pki):
        self.pki = pki
        self.lock = threading.Lock()  # openssl ts -reply bumps the serial file
        self.requests = 0
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    def up(self) -> None:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    reply = tsa.reply(query)
                except RuntimeError as exc:
                    self.send_error(400, str(exc)[:200])
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Close the port: connections are refused until ``up()``."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reply(self, query: bytes) -> bytes:
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "q.tsq").write_bytes(query)
            _openssl("ts", "-reply", "-config", str(self.pki.config), "-queryfile", "q.tsq",
                     "-out", "r.tsr", cwd=Path(tmp))
            self.requests += 1
            return Path(tmp, "r.tsr").read_bytes()


@contextmanager
def loopback_tsa(directory: Path, name: str = "lifeboat test TSA") -> Iterator[LoopbackTsa]:
    tsa = LoopbackTsa(make_pki(directory, name))
    try:
        yield tsa
    finally:
        tsa.down()


def openssl_ts_verify(data: Path, token: Path, ca: Path) -> subprocess.CompletedProcess:
    """``openssl ts -verify -data DATA -in TOKEN -CAfile CA``, as an expert runs it."""
    return subprocess.run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(token),
                           "-CAfile", str(ca)], capture_output=True, text=True, timeout=30)
