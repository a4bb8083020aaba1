"""The CLI's public surface: every DESIGN.md command exists and is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from crawl import cli
ROOT = Path(__file__).resolve().parent.parent

DESIGN_COMMANDS = {"demo", "crawl", "extract", "serve", "export", "verify", "pack", "status"}


def test_help_lists_every_design_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = set(re.findall(r"^  (\w+)\s", result.output, flags=re.MULTILINE))
    assert DESIGN_COMMANDS <= listed


def test_every_command_has_an_example_in_its_help() -> None:
    for name, command in cli.commands.items():
        assert command.help and "Example" in command.help, f"`lifeboat {name}` lacks an Example"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in cli.commands if f"lifeboat {name}" not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_python_crawl_py_is_the_same_program() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "-h"], capture_output=True,
                         text=True, check=True).stdout
    assert "Commands:" in out and "crawl" in out
