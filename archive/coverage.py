"""How a walk covered its ID space: ledger states in equal slices from the lowest ID to the
highest, for the coverage strip of ``lifeboat serve`` (``/-/coverage``) and, as a line of
characters, for ``lifeboat status``.

Only walks whose IDs are all decimal integers, walked ID by ID, have a strip (URLs and hex
IDs have no order a person could read off a line; sparse snowflake IDs no slices to fill).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from archive.schema import LedgerState

# Order of the legend, and the character each state gets in text; "not walked" is an ID
# inside the range without a ledger row.
STATE_ORDER = tuple(s.value for s in (LedgerState.ARCHIVED, LedgerState.DELETED,
                                     LedgerState.MISSING, LedgerState.FORBIDDEN,
                                     LedgerState.FAILED, LedgerState.QUEUED))
NOT_WALKED = "not walked"
STATE_MARKS = {LedgerState.ARCHIVED: "#", LedgerState.DELETED: "d", LedgerState.MISSING: ".",
               LedgerState.FORBIDDEN: "f", LedgerState.FAILED: "x", LedgerState.QUEUED: "q",
               NOT_WALKED: " "}
NUMERIC = "id != '' AND id NOT GLOB '*[^0-9]*'"
# A walk that has a ledger row for fewer than half the IDs in its range did not walk it
# ID by ID (snowflake IDs, discovered items): a strip would only say "not walked".
MIN_DENSITY = 0.5


@dataclass
class Coverage:
    """Ledger states of one walk, slice by slice across its ID range."""

    profile: str
    item_type: str
    low: int
    high: int
    per_slice: int
    slices: list[dict[str, int]] = field(default_factory=list)

    def slice_range(self, index: int) -> tuple[int, int]:
        """The first and last ID of slice ``index``."""
        first = self.low + index * self.per_slice
        return first, min(first + self.per_slice - 1, self.high)

    def totals(self) -> dict[str, int]:
        """How many IDs are in each state (``not walked`` included) over the whole range."""
        out: dict[str, int] = {}
        for counts in self.slices:
            for state, n in counts.items():
                out[state] = out.get(state, 0) + n
        return out


def walk_coverage(conn: sqlite3.Connection, profile: str, item_type: str,
                  width: int = 100) -> Coverage | None:
    """The coverage of one walk in at most ``width`` slices, or None when its IDs are not
    all decimal, cover less than MIN_DENSITY of their range, or there are none. Two
    aggregate queries over the ledger."""
    where = "profile = ? AND item_type = ?"
    low, high, numeric, total = conn.execute(
        f"SELECT min(CAST(id AS INTEGER)), max(CAST(id AS INTEGER)), "
        f"sum({NUMERIC}), count(*) FROM ledger WHERE {where}", [profile, item_type]).fetchone()
    if not total or numeric != total or total < (high - low + 1) * MIN_DENSITY:
        return None
    span = high - low + 1  # integers throughout: snowflake IDs exceed a float's precision
    per_slice = max(1, -(-span // width))
    count = -(-span // per_slice)
    coverage = Coverage(profile, item_type, low, high, per_slice, [{} for _ in range(count)])
    for index, state, n in conn.execute(
            f"SELECT (CAST(id AS INTEGER) - ?) / ?, state, count(*) FROM ledger "
            f"WHERE {where} GROUP BY 1, 2", [low, per_slice, profile, item_type]):
        slice_counts = coverage.slices[min(index, count - 1)]
        slice_counts[state] = slice_counts.get(state, 0) + n
    for index, counts in enumerate(coverage.slices):
        first, last = coverage.slice_range(index)
        missing_rows = last - first + 1 - sum(counts.values())
        if missing_rows:
            counts[NOT_WALKED] = missing_rows
    return coverage


def walks(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(profile, item_type) of every walk in the ledger."""
    return [tuple(r) for r in conn.execute(
        "SELECT DISTINCT profile, item_type FROM ledger ORDER BY 1, 2")]


def dominant(counts: dict[str, int]) -> str:
    """The state most IDs of a slice are in (ties go to the later state in the legend:
    the problem shows)."""
    order = [*STATE_ORDER, NOT_WALKED]
    return max(counts, key=lambda s: (counts[s], order.index(s) if s in order else -1))


def strip_text(coverage: Coverage) -> list[str]:
    """The strip as text: one character per slice (the state most of its IDs are in)."""
    marks = "".join(STATE_MARKS.get(dominant(c), "?") for c in coverage.slices)
    each = (f"{coverage.per_slice} IDs per mark" if coverage.per_slice > 1
            else "one ID per mark")
    totals = coverage.totals()
    legend = "  ".join(f"{STATE_MARKS[s]!r} {s} {totals[s]}"
                       for s in (*STATE_ORDER, NOT_WALKED) if s in totals)
    return [f"{coverage.profile} {coverage.item_type} coverage, IDs {coverage.low}.."
            f"{coverage.high} ({each}, the state most of them are in):",
            f"  |{marks}|",
            f"  {legend}"]
