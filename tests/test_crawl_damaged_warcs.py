"""Resuming over damaged WARCs: one cut short, one deleted. The crawl says what is damaged,
fetches again what was lost, and leaves an archive that verify (and warcio) find clean,
with no revisit record pointing at a payload that is gone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crawl_helpers import (ROOT, assert_matches_truth, crawl_args, rows, run_crawl,
                           warc_records, warcio_check)

pytestmark = pytest.mark.timeout(240)


def test_truncated_and_deleted_warcs_are_reported_and_fetched_again(demo_platform, tmp_path):
    job = tmp_path / "job"
    run_crawl(job, demo_platform, ids="1-200", extra=("--warc-max-size", "100KB"))
    files = sorted((job / "warc").glob("*.warc.gz"))
    assert len(files) >= 4, files

    def revisited_elsewhere(path) -> int:
        """Revisits in other files of payloads first archived in ``path``."""
        return rows(job, "SELECT count(*) FROM captures r JOIN captures o ON "
                         "r.refers_to = o.warc_record_id WHERE o.warc_filename = ? "
                         "AND r.warc_filename != ?", (path.name, path.name))[0][0]

    # delete the file whose payloads are most revisited from the others, cut another one
    deleted = max(files[:-1], key=revisited_elsewhere)
    cut = next(f for f in files[:-1] if f != deleted)
    revisits_of_lost = revisited_elsewhere(deleted)
    with open(cut, "r+b") as fh:
        fh.truncate(cut.stat().st_size * 6 // 10)  # mid-record, most likely
    deleted.unlink()

    again = subprocess.run(crawl_args(job, demo_platform, ids="1-200",
                                      extra=("--warc-max-size", "100KB")),
                           cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"warc/{deleted.name} is missing:" in again.stderr
    assert f"warc/{cut.name} is " in again.stderr and "records lost" in again.stderr
    assert "items are fetched again" in again.stderr
    assert "repairs.log" in again.stderr

    assert_matches_truth(job, demo_platform.truth)
    warcio_check(job)
    verified = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "verify", str(job)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout
    assert "OK: no problems found" in verified.stdout
    # no revisit the resumed run wrote, and no revisit row, refers to a record that is gone
    everything = warc_records(job)
    record_ids = {record.rec_headers.get_header("WARC-Record-ID") for _, _, record in everything}
    new = {name for name, _, _ in everything} - {f.name for f in files}
    assert new
    refers = [record.rec_headers.get_header("WARC-Refers-To") for name, _, record in everything
              if name in new and record.rec_type == "revisit"]
    assert not [rid for rid in refers if rid not in record_ids]
    assert not rows(job, "SELECT id FROM captures WHERE refers_to IS NOT NULL AND refers_to "
                         "NOT IN (SELECT warc_record_id FROM captures)")
    assert revisits_of_lost > 0  # the case the check is about did arise
