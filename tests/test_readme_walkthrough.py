"""README's "Write a profile for a new platform" works as written.

The test takes the walk-through's TOML and its ``lifeboat`` commands out of README.md,
starts the demo platform as the walk-through says, runs the commands in bash with ``API``
and ``MEDIA`` set, and checks the job against the platform's ground truth.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import sqlite_utils

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Write a profile for a new platform"
# the demo's truth states and the ledger state each must end in
LEDGER_STATE = {"archived": "archived", "deleted": "deleted", "missing": "missing",
                "forbidden": "forbidden", "malformed": "failed"}


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md lost its {SECTION!r} section"
    body = text.split(SECTION, 1)[1]
    return body.split("\n## ", 1)[0]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_walkthrough_profile_and_commands_work_as_written(tmp_path: Path, demo_factory) -> None:
    section = walkthrough()
    (toml,) = blocks(section, "toml")
    serve_line = blocks(section, "sh")[0]
    posts = int(re.search(r"python -m demo serve --posts (\d+)", serve_line).group(1))
    commands = [line for block in blocks(section, "sh")[1:] for line in block.splitlines()
                if line.startswith("lifeboat ")]
    assert any("--dry-run" in c for c in commands) and any("export" in c for c in commands)
    (tmp_path / "myplatform.toml").write_text(toml, encoding="utf-8")

    platform = demo_factory(posts=posts, seed=3)
    env = {**os.environ, "API": platform.api, "MEDIA": platform.media,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"

    db = sqlite_utils.Database(tmp_path / "jobs" / "mine" / "archive.db")
    ledger = {row["id"]: row["state"] for row in db["ledger"].rows_where("item_type = 'post'")}
    truth = platform.truth
    assert ledger == {post_id: LEDGER_STATE[state] for post_id, state in truth["posts"].items()}
    media = {row["url"] for row in db["media"].rows}
    shown = {url for urls in truth["post_media"].values() for url in urls}
    assert shown and shown <= media
    with open(tmp_path / "mine.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    located = {url for url, entry in truth["media"].items() if entry["latitude"] is not None}
    assert rows and any(row.get("latitude") for row in rows) == bool(located & shown)


def test_walkthrough_points_at_the_profile_format_documentation() -> None:
    section = walkthrough()
    doc = ROOT / "spiders" / "profiles" / "README.md"
    assert "spiders/profiles/README.md" in section
    assert "## HTML pages and CSS / XPath selectors" in doc.read_text(encoding="utf-8")
    assert (ROOT / "spiders" / "profiles" / "elgg.toml").is_file()
