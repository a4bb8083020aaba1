"""`lifeboat pack --sign`: a WACZ signed by webrecorder's authsign (run on loopback with a
throwaway CA and a loopback TSA) that `wacz validate --verify-auth` accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive.pack import signature
from authsign_server import DOMAIN, authsign_server
from crawl_helpers import run_crawl
from test_seal import lifeboat
from tsa_server import loopback_tsa

pytest.importorskip("authsign", reason="authsign is in the [test] extra (./bootstrap.sh test)")


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    with loopback_tsa(tmp_path_factory.mktemp("tsa")) as tsa, \
            authsign_server(tmp_path_factory.mktemp("authsign"), tsa) as server:
        yield server


def wacz_validate(wacz: Path, *extra: str) -> subprocess.CompletedProcess:
    wacz_cli = Path(sys.executable).with_name("wacz")
    return subprocess.run([str(wacz_cli), "validate", "-f", str(wacz), *extra],
                          capture_output=True, text=True, timeout=120)


def test_signed_wacz_passes_wacz_validate_verify_auth(tmp_path, demo_platform, signer):
    job = tmp_path / "job"
    run_crawl(job, demo_platform, ids="1-15")
    code, out = lifeboat("pack", str(job), "--sign", signer.sign_url,
                         "--sign-token", signer.token)
    assert code == 0, out
    assert f"signed: by {DOMAIN}" in out and "--verify-auth" in out, out
    wacz = job / "job.wacz"
    signed = signature(wacz)
    assert signed["domain"] == DOMAIN and signed["timeSignature"], signed
    checked = wacz_validate(wacz, "--verify-auth", "--verifier-url", signer.verify_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Successfully verified signature via: " + signer.verify_url in checked.stdout

    # the oracle can fail: a WACZ whose datapackage.json changed after signing is refused
    altered = tmp_path / "altered.wacz"
    shutil.copy(wacz, altered)
    subprocess.run([sys.executable, "-c", ALTER, str(altered)], check=True)
    refused = wacz_validate(altered, "--verify-auth", "--verifier-url", signer.verify_url)
    assert refused.returncode != 0, refused.stdout


ALTER = """
import json, sys, zipfile, shutil
path = sys.argv[1]
with zipfile.ZipFile(path) as zf:
    items = {n: zf.read(n) for n in zf.namelist()}
package = json.loads(items["datapackage.json"])
package["title"] = "rewritten"
items["datapackage.json"] = json.dumps(package).encode()
with zipfile.ZipFile(path, "w") as zf:
    for name, data in items.items():
        zf.writestr(name, data)
"""


def test_wrong_token_writes_no_wacz(tmp_path, demo_platform, signer):
    job = tmp_path / "job"
    run_crawl(job, demo_platform, ids="1-5")
    code, out = lifeboat("pack", str(job), "--sign", signer.sign_url, "--sign-token", "wrong")
    assert code == 1 and "signing server" in out, out
    assert not (job / "job.wacz").exists()
