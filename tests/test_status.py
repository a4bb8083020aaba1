"""``lifeboat status DIR``: the ledger summary, and errors that say what to do."""

from __future__ import annotations

from click.testing import CliRunner

from archive.job import write_job_toml
from crawl import cli
from archive.schema import open_db


def ledger_row(item_type: str, item_id: str, state: str, when: str, status: int | None = 200,
               reason: str | None = None) -> dict:
    return {"profile": "demo", "item_type": item_type, "id": item_id, "state": state,
            "attempts": 1, "last_status": status, "updated_at": when, "reason": reason}


def test_status_counts_gaps_rate_and_failures(tmp_path):
    db = open_db(tmp_path / "archive.db")
    states = ["archived"] * 5 + ["missing"] * 3 + ["archived", "failed", "deleted"]
    db["ledger"].insert_all(
        ledger_row("post", str(i + 1), state, f"2026-01-01T00:00:{i:02d}.000Z",
                   404 if state == "missing" else 200,
                   "malformed JSON: x" if state == "failed" else None)
        for i, state in enumerate(states))
    db["ledger"].insert(ledger_row("media", "http://m/1.jpg", "queued", "2026-01-01T00:00:20.000Z", None))
    db.close()
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "demo post: 11 IDs: archived 6, missing 3, deleted 1, failed 1" in lines
    assert "demo media: 1 IDs: queued 1" in lines
    assert "  largest gaps (missing): 6-8 (3)" in lines
    assert any(line.startswith("rate: 1.1 IDs/s over 10 s") for line in lines)
    assert "  failed post 10: HTTP 200 malformed JSON: x" in lines
    assert "captures: 0 (0.0 MB of payload) in 0 WARC files" in lines


def test_status_of_a_directory_that_is_not_a_job(tmp_path):
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a lifeboat job directory" in result.output and "lifeboat crawl" in result.output


def test_crawl_refuses_a_job_of_another_profile(tmp_path):
    write_job_toml(tmp_path, {"profile_name": "other", "ids": ""})
    result = CliRunner().invoke(cli, ["crawl", "demo", "--out", str(tmp_path),
                                      "--var", "api=http://127.0.0.1:9",
                                      "--var", "media=http://127.0.0.1:10"])
    assert result.exit_code == 1
    assert "holds a crawl of profile 'other'" in result.output
    assert not (tmp_path / "archive.db").exists()
