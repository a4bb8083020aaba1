"""The layers' import rules, read from the source with ast: the demo platform is a foreign
server that imports nothing of lifeboat, and click lives in the CLI layer only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIFEBOAT = {"spiders", "archive", "metadata", "datasette_plugins", "cli", "crawl"}
LIBRARY = ["spiders", "archive", "metadata", "datasette_plugins", "demo"]  # not the CLI layer


def imported(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, at any depth of the code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_rule_reader_sees_imports_inside_functions(tmp_path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from archive.job import Job\n    import click.testing\n")
    assert imported(module) == {"archive", "click"}


@pytest.mark.parametrize("package", LIBRARY)
def test_click_only_in_the_cli_layer(package: str) -> None:
    offending = [str(p.relative_to(ROOT)) for p in modules(package) if "click" in imported(p)]
    assert not offending, (f"click belongs in crawl.py and cli/; raise a LifeboatError or "
                           f"return lines instead in {offending}")


# What each package may import of lifeboat: data flows one way (DESIGN.md, Layers).
MAY_IMPORT = {
    "archive": set(),
    "metadata": {"archive"},
    "spiders": {"archive"},
    "datasette_plugins": {"archive", "metadata"},
    "demo": set(),  # a foreign platform
}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_run_one_way(package: str) -> None:
    forbidden = LIFEBOAT - {package} - MAY_IMPORT[package]
    offending = {str(p.relative_to(ROOT)): sorted(imported(p) & forbidden)
                 for p in modules(package) if imported(p) & forbidden}
    assert not offending, (f"{package}/ may import only {sorted(MAY_IMPORT[package])} of "
                           f"lifeboat (archive/ is the bottom layer, crawl.py and cli/ the "
                           f"top); these import a layer above or beside it: {offending}")
