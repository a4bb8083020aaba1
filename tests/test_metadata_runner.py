"""The ExifTool pool: version gate, batches on stay-open processes, broken files."""

from __future__ import annotations

import os
import random
import signal
import stat
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawl import cli
from metadata.exceptions import ExifToolMissing, ExifToolTooOld
from metadata.runner import ExifToolPool, check_exiftool, require_safe_version
from metadata.samples import write_photo


def exiftool_children() -> set[int]:
    """PIDs of ExifTool processes whose parent is this test process."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"exiftool" in cmdline:
            found.add(int(entry.name))
    return found


def test_installed_exiftool_is_accepted():
    version = check_exiftool()
    assert require_safe_version(version) == version


@pytest.mark.parametrize("version", ["12.23", "11.88", "9.0"])
def test_exiftool_older_than_12_24_is_refused_with_the_cve(version):
    with pytest.raises(ExifToolTooOld) as err:
        require_safe_version(version)
    assert "CVE-2021-22204" in str(err.value) and "libimage-exiftool-perl" in str(err.value)


@pytest.mark.parametrize("version", ["12.24", "12.57", "13.10"])
def test_exiftool_12_24_and_later_pass(version):
    assert require_safe_version(version) == version


def test_missing_exiftool_says_how_to_install():
    with pytest.raises(ExifToolMissing) as err:
        check_exiftool("exiftool-that-is-not-installed")
    assert "apt-get install libimage-exiftool-perl" in str(err.value)


def test_cli_without_exiftool_fails_with_the_fix(tmp_path):
    warc = tmp_path / "empty.warc"
    warc.write_bytes(b"")
    result = CliRunner().invoke(cli, ["extract", "--db", str(tmp_path / "x.db"), str(warc)],
                                env={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "libimage-exiftool-perl" in result.output


def test_pool_reads_batches_on_the_same_processes(tmp_path):
    good = write_photo(tmp_path / "good.jpg", {"Make": "Nikon"})
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(random.Random(1).randbytes(3000))  # os.urandom: 1 in 100 is an MP3
    gone = tmp_path / "gone.jpg"
    batch = [str(good), str(empty), str(noise), str(gone)]
    before = exiftool_children()
    with ExifToolPool(2) as pool:
        started = exiftool_children() - before
        assert len(started) == 2
        futures = [pool.submit(batch) for _ in range(6)]
        results = [f.result() for f in futures]
        assert exiftool_children() - before == started  # no process per file or batch
    assert not exiftool_children() - before  # all stopped
    for records in results:
        assert [r.get("SourceFile") for r in records] == batch
        assert records[0]["IFD0:Make"] == "Nikon" and "ExifTool:Error" not in records[0]
        assert records[1]["ExifTool:Error"] == "File is empty"
        assert records[2].get("ExifTool:Error")  # unknown file type
        assert records[3].get("ExifTool:Error")  # not there


def test_a_killed_exiftool_is_replaced_and_its_batch_finished(tmp_path):
    photo = write_photo(tmp_path / "p.jpg", {"Make": "Nikon"})
    paths = [str(photo)] * 6000  # long enough to be killed half-way through
    before = exiftool_children()
    with ExifToolPool(1) as pool:
        [pid] = exiftool_children() - before
        future = pool.submit(paths)
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        records = future.result(timeout=120)
        # a Counter: a failure message that difflib need not spend minutes on
        assert Counter(r.get("IFD0:Make") for r in records) == {"Nikon": len(paths)}
        [replacement] = exiftool_children() - before  # the killed one is gone
        assert replacement != pid
        assert pool.read([str(photo)])[0]["IFD0:Make"] == "Nikon"


def test_a_slow_starting_exiftool_is_not_held_to_the_per_file_limit(tmp_path):
    """Perl loading ExifTool on a busy machine can take longer than a file may: a
    replacement for a killed process still starts."""
    slow = tmp_path / "slow-exiftool"
    slow.write_text('#!/bin/sh\nsleep 2\nexec exiftool "$@"\n')
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    photo = write_photo(tmp_path / "p.jpg", {"Make": "Nikon"})
    before = exiftool_children()
    with ExifToolPool(1, executable=str(slow), file_timeout=1) as pool:
        assert pool.read([str(photo)])[0]["IFD0:Make"] == "Nikon"
        [pid] = exiftool_children() - before
        os.kill(pid, signal.SIGKILL)
        assert pool.read([str(photo)])[0]["IFD0:Make"] == "Nikon"
