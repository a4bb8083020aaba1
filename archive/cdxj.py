"""CDXJ indexes of WARC files, written by cdxj-indexer (the indexer pywb and wacz use)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from cdxj_indexer.main import CDXJIndexer


@dataclass(frozen=True)
class CdxjLine:
    """One index line: SURT key, 14-digit timestamp and the JSON fields."""

    urlkey: str
    timestamp: str
    fields: dict

    @property
    def position(self) -> tuple[str, int]:
        """(WARC file name, offset) of the record this line indexes."""
        return self.fields.get("filename", ""), int(self.fields.get("offset", -1))


def write_cdxj(warcs: Iterable[Path], out: Path) -> int:
    """Index ``warcs`` into ``out`` (sorted, file names relative to their folder); return
    the number of lines. The file is replaced only once the index is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    CDXJIndexer(str(partial), [str(p) for p in warcs], sort=True, post_append=True).process_all()
    os.replace(partial, out)
    with open(out, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def read_cdxj(path: Path) -> Iterator[CdxjLine]:
    """Every line of a CDXJ index."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            urlkey, timestamp, fields = line.rstrip("\n").split(" ", 2)
            yield CdxjLine(urlkey, timestamp, json.loads(fields))
