"""Webrecorder's authsign (the WACZ signing and verifying server) run on loopback.

Instead of a Let's Encrypt certificate it is given, ready-made, a domain certificate for
``lifeboat.test`` from a throwaway CA (made by ``openssl``), and it time-stamps through a
loopback TSA (``tsa_server``). Its ``/verify`` endpoint trusts exactly those two CAs, so
``wacz validate --verify-auth --verifier-url URL/verify`` checks a WACZ it signed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tsa_server import LoopbackTsa, _openssl

DOMAIN = "lifeboat.test"


@dataclass
class Authsign:
    url: str  # e.g. http://127.0.0.1:PORT; signing at /sign, verifying at /verify
    token: str

    @property
    def sign_url(self) -> str:
        return f"{self.url}/sign"

    @property
    def verify_url(self) -> str:
        return f"{self.url}/verify"


def _fingerprint(pem: Path, cwd: Path) -> str:
    out = _openssl("x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256", cwd=cwd)
    return out.decode().strip().split("=", 1)[1].replace(":", "").lower()


def _signing_files(directory: Path, tsa: LoopbackTsa, token: str) -> Path:
    """The CA, domain key and certificate, roots and config authsign reads; the config."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=lifeboat test signing CA",
             "-addext", "basicConstraints=critical,CA:true", cwd=directory)
    _openssl("req", "-new", *ec, "-keyout", "domain.key", "-out", "domain.csr",
             "-subj", f"/CN={DOMAIN}", cwd=directory)
    (directory / "domain.ext").write_text(f"subjectAltName = DNS:{DOMAIN}\n")
    _openssl("x509", "-req", "-in", "domain.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "6", "-extfile", "domain.ext", "-out", "domain.pem",
             cwd=directory)
    # authsign keeps its key encrypted with the passphrase "passphrase" (authsign.signer)
    _openssl("pkcs8", "-topk8", "-in", "domain.key", "-out", str(data / "private-key.pem"),
             "-v2", "aes-256-cbc", "-passout", "pass:passphrase", cwd=directory)
    (data / "cert.pem").write_bytes((directory / "domain.pem").read_bytes()
                                    + (directory / "ca.pem").read_bytes())
    roots = directory / "roots.yaml"
    roots.write_text(f"domain_cert_roots:\n  - {_fingerprint(directory / 'ca.pem', directory)}\n"
                     f"timestamp_cert_roots:\n  - {_fingerprint(tsa.pki.ca, directory)}\n")
    config = directory / "config.yaml"
    config.write_text(f"signing:\n  domain: {DOMAIN}\n  email: test@{DOMAIN}\n  port: 0\n"
                      f"  output: {data}\n  auth_token: {token}\n"
                      f"  timestamping:\n    - url: {tsa.url}\n"
                      f"trusted_roots: {roots}\n")
    return config


@contextmanager
def authsign_server(directory: Path, tsa: LoopbackTsa) -> Iterator[Authsign]:
    """authsign under uvicorn on a loopback port chosen by the kernel."""
    token = "lifeboat-test-token"
    config = _signing_files(directory, tsa, token)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env = dict(os.environ, CONFIG=str(config), NO_RENEW="1")
    log = open(directory / "authsign.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "authsign.main:app", "--fd", str(listener.fileno()),
         "--log-level", "warning"], cwd=directory, env=env, stdout=log, stderr=log,
        pass_fds=[listener.fileno()])
    listener.close()
    server = Authsign(url=f"http://127.0.0.1:{port}", token=token)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{server.url}/docs", timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("authsign did not start: "
                                       + (directory / "authsign.log").read_text()[-2000:])
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(10)
        log.close()
