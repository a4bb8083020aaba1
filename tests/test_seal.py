"""`lifeboat seal` and the seal checks of `lifeboat verify`, against a real TSA on loopback
(OpenSSL's `ts -reply` with a throwaway CA), with `sha256sum -c` and `openssl ts -verify`
as the outside oracles."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawl import cli
from crawl_helpers import run_crawl
from tsa_server import LoopbackTsa, loopback_tsa, make_pki, openssl_ts_verify


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, demo_platform) -> Path:
    """A real crawl of the demo platform with two WARC files (never modified)."""
    job_dir = tmp_path_factory.mktemp("seal") / "job"
    run_crawl(job_dir, demo_platform, ids="1-30", extra=("--warc-max-size", "50KB"))
    assert len(list((job_dir / "warc").glob("*.warc.gz"))) >= 2
    return job_dir


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    with loopback_tsa(tmp_path_factory.mktemp("tsa-pki")) as server:
        yield server


@pytest.fixture
def job(crawled, tmp_path) -> Path:
    return Path(shutil.copytree(crawled, tmp_path / "job"))


def lifeboat(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def sealed(job: Path, *tsas: LoopbackTsa) -> Path:
    """Seal ``job`` with ``tsas``; the manifest."""
    code, out = lifeboat("seal", str(job), *[a for t in tsas for a in ("--tsa", t.url)])
    assert code == 0, out
    manifests = list((job / "seals").glob("*.manifest"))
    assert len(manifests) == 1, out
    return manifests[0]


def sha256sum_check(job: Path, manifest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sha256sum", "-c", str(manifest)], cwd=job / "warc",
                          capture_output=True, text=True, timeout=60)


def seal_problems(output: str) -> list[str]:
    return [line for line in output.splitlines()
            if line.startswith("PROBLEM seals/") and ": seal: " in line]


def test_seal_is_checked_by_sha256sum_and_openssl_and_verify(job, tsa):
    manifest = sealed(job, tsa)
    warcs = sorted(p.name for p in (job / "warc").glob("*.warc.gz"))
    lines = manifest.read_text().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in lines) == warcs
    checked = sha256sum_check(job, manifest)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(warcs), checked
    token = manifest.with_name(manifest.name + ".tsr")
    accepted = openssl_ts_verify(manifest, token, tsa.pki.ca)
    assert accepted.returncode == 0 and "Verification: OK" in accepted.stdout, accepted

    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 0, out
    assert f"seal seals/{manifest.name}: {len(warcs)} WARC file(s), hashes match" in out
    stamp = re.search(rf"{re.escape(token.name)}: time-stamped (\S+) by (.*?); signature "
                      "checked against --tsa-ca", out)
    assert stamp and "lifeboat test TSA" in stamp[2], out
    assert "not in any seal" not in out

    code, out = lifeboat("verify", str(job))  # no CA: the token is intact, signer unvouched
    assert code == 0 and "its signer not checked: give --tsa-ca FILE" in out, out


def test_two_tsas_give_two_tokens_each_checked_by_openssl(job, tsa, tmp_path):
    with loopback_tsa(tmp_path / "pki2", name="second TSA") as second:
        manifest = sealed(job, tsa, second)
    first = manifest.with_name(manifest.name + ".tsr")
    other = manifest.with_name(manifest.name + ".2.tsr")
    assert openssl_ts_verify(manifest, first, tsa.pki.ca).returncode == 0
    assert openssl_ts_verify(manifest, other, second.pki.ca).returncode == 0
    assert openssl_ts_verify(manifest, other, tsa.pki.ca).returncode != 0
    both = tmp_path / "both.pem"
    both.write_bytes(tsa.pki.ca.read_bytes() + second.pki.ca.read_bytes())
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(both))
    assert code == 0 and "by Common Name: second TSA;" in out, out
    # a CA that issued neither TSA's certificate: both signatures fail to chain
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(make_pki(tmp_path / "x").ca))
    assert code == 1 and len(seal_problems(out)) == 2, out


def test_altered_manifest_line_fails(job, tsa):
    manifest = sealed(job, tsa)
    lines = manifest.read_text().splitlines(keepends=True)
    lines[0] = ("0" if lines[0][0] != "0" else "1") + lines[0][1:]
    manifest.write_text("".join(lines))
    assert sha256sum_check(job, manifest).returncode != 0
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 1, out
    problems = seal_problems(out)
    assert any("the manifest says" in p for p in problems), out
    assert any("message imprint is not the hash of the manifest" in p for p in problems), out


def test_altered_warc_byte_fails(job, tsa):
    manifest = sealed(job, tsa)
    warc = sorted((job / "warc").glob("*.warc.gz"))[-1]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    assert sha256sum_check(job, manifest).returncode != 0
    code, out = lifeboat("verify", str(job), "--tsa-ca", str(tsa.pki.ca))
    assert code == 1, out
    assert any(warc.name in p and "the manifest says" in p for p in seal_problems(out)), out


@pytest.mark.parametrize("where", ["signature", "time"])
def test_altered_token_byte_fails(job, tsa, where):
    manifest = sealed(job, tsa)
    token = manifest.with_name(manifest.name + ".tsr")
    data = bytearray(token.read_bytes())
    if where == "signature":
        data[-1] ^= 0x01
    else:  # a digit of the GeneralizedTime in the signed TSTInfo
        at = re.search(rb"\x18\x0f(\d{14})Z", bytes(data)).start() + 2 + 13
        data[at] = ord("0") if data[at] != ord("0") else ord("1")
    token.write_bytes(bytes(data))
    assert openssl_ts_verify(manifest, token, tsa.pki.ca).returncode != 0
    for extra in (["--tsa-ca", str(tsa.pki.ca)], []):
        code, out = lifeboat("verify", str(job), *extra)
        assert code == 1, out
        assert any(token.name in p and "signature" in p for p in seal_problems(out)), out


def test_unreachable_tsa_is_queued_then_retried(job, tmp_path):
    server = LoopbackTsa(make_pki(tmp_path / "pki"))
    server.down()
    code, out = lifeboat("seal", str(job), "--tsa", server.url, "--timeout", "5")
    assert code == 1 and "queued for" in out, out
    manifest = next((job / "seals").glob("*.manifest"))
    assert not manifest.with_name(manifest.name + ".tsr").exists()
    queued = [json.loads(line) for line in (job / "seals" / "pending.jsonl").open()]
    assert [(q["manifest"], q["tsa"], q["attempts"]) for q in queued] == \
        [(manifest.name, server.url, 1)]
    code, out = lifeboat("verify", str(job))
    assert code == 0 and "1 token(s) still queued" in out, out

    server.up()  # the same port again
    try:
        code, out = lifeboat("seal", str(job))
    finally:
        server.down()
    assert code == 0 and "time-stamped" in out, out
    assert not (job / "seals" / "pending.jsonl").exists()
    token = manifest.with_name(manifest.name + ".tsr")
    assert openssl_ts_verify(manifest, token, server.pki.ca).returncode == 0
    log = (job / "seals" / "seals.log").read_text()
    assert "queued:" in log and "sealed:" in log


def test_seal_without_tsa_or_queue_says_what_to_do(job):
    code, out = lifeboat("seal", str(job))
    assert code == 1 and "give --tsa URL" in out, out


def test_readme_expert_commands_work_as_written(job, tsa):
    """README's "Chain of custody" commands for an expert without lifeboat, run as printed
    (with this job's manifest name and the test CA in place of the examples)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Chain of custody", 1)[1].split("\n## ", 1)[0]
    block = section.split("An expert checks the same without lifeboat", 1)[1]
    script = block.split("```sh\n", 1)[1].split("```", 1)[0]
    example = re.search(r"(demo-\d{14})\.manifest", script)[1]
    manifest = sealed(job, tsa)
    script = script.replace(example, manifest.name.removesuffix(".manifest"))
    script = script.replace("jobs/demo", str(job)).replace("tsa-ca.pem", str(tsa.pki.ca))
    ran = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    warcs = list((job / "warc").glob("*.warc.gz"))
    assert ran.stdout.count(".warc.gz: OK") == len(warcs)
    assert "Verification: OK" in ran.stdout
    assert "TSA: DirName:/CN=lifeboat test TSA" in ran.stdout
