"""Small charts drawn on the server as inline SVG: no script, no CDN, they print.

Every bar and slice carries its numbers (``data-count``, ``data-counts``, a ``<title>``
tooltip), so what a person sees can be checked against the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from markupsafe import Markup

from archive.coverage import NOT_WALKED, STATE_ORDER, Coverage
from archive.schema import LedgerState

STATE_COLOURS = {LedgerState.ARCHIVED: "#2e7d32", LedgerState.DELETED: "#8e24aa",
                 LedgerState.MISSING: "#bdbdbd", LedgerState.FORBIDDEN: "#ef6c00",
                 LedgerState.FAILED: "#c62828", LedgerState.QUEUED: "#1565c0",
                 NOT_WALKED: "#ffffff"}
BAR_COLOUR = "#1f5fa8"
WIDTH, HEIGHT, AXIS = 900, 160, 34


@dataclass(frozen=True)
class Bar:
    """One bar: its label (a day, an hour), its count and where clicking it leads."""

    label: str
    count: int
    href: str | None = None


def bar_chart(bars: list[Bar], caption: str, css_class: str, colour: str = BAR_COLOUR) -> Markup:
    """A bar chart of ``bars`` left to right, the largest bar full height, the first,
    middle and last labels under the axis."""
    if not bars:
        return Markup('<p class="{}">{}: nothing to show.</p>').format(css_class, caption)
    top = max(b.count for b in bars) or 1
    step = WIDTH / len(bars)
    parts = []
    for index, bar in enumerate(bars):
        height = (HEIGHT - 4) * bar.count / top
        rect = Markup(
            '<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="{}" '
            'data-label="{}" data-count="{}"><title>{}: {:,}</title></rect>').format(
            index * step + step * 0.1, HEIGHT - height, max(step * 0.8, 0.5), height, colour,
            bar.label, bar.count, bar.label, bar.count)
        parts.append(Markup('<a href="{}">{}</a>').format(bar.href, rect) if bar.href else rect)
    ticks = sorted({0, len(bars) // 2, len(bars) - 1})
    for index in ticks:
        anchor = "start" if index == 0 else "end" if index == len(bars) - 1 else "middle"
        x = index * step + (0 if anchor == "start" else step if anchor == "end" else step / 2)
        parts.append(Markup('<text x="{:.2f}" y="{}" font-size="12" text-anchor="{}">{}</text>')
                     .format(x, HEIGHT + 16, anchor, bars[index].label))
    parts.append(Markup('<text x="0" y="12" font-size="12" fill="#555">max {:,}</text>')
                 .format(top))
    total = sum(b.count for b in bars)
    return Markup(
        '<figure class="lifeboat-chart {}"><svg viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}" data-total="{}" preserveAspectRatio="none">'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#999"/>{}</svg>'
        '<figcaption>{}</figcaption></figure>').format(
        css_class, WIDTH, HEIGHT + AXIS, caption, total, HEIGHT, WIDTH, HEIGHT,
        Markup("").join(parts), caption)


def coverage_strip(coverage: Coverage) -> Markup:
    """The ID-walk coverage strip: one column per slice of the ID range, stacked by the
    share of its IDs in each ledger state, lowest ID on the left."""
    step = WIDTH / len(coverage.slices)
    height = 60
    parts = []
    order = [*STATE_ORDER, NOT_WALKED]
    for index, counts in enumerate(coverage.slices):
        first, last = coverage.slice_range(index)
        size = last - first + 1
        y = 0.0
        tooltip = f"IDs {first}-{last}: " + ", ".join(
            f"{s} {counts[s]}" for s in order if counts.get(s))
        column = []
        for state in order:
            n = counts.get(state, 0)
            if not n:
                continue
            h = height * n / size
            column.append(Markup('<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" '
                                 'fill="{}"/>').format(index * step, y, step + 0.05, h,
                                                       STATE_COLOURS.get(state, "#000")))
            y += h
        parts.append(Markup('<g class="slice" data-first="{}" data-last="{}" data-counts="{}">'
                            '<title>{}</title>{}</g>').format(
            first, last, json.dumps(counts, sort_keys=True), tooltip, Markup("").join(column)))
    totals = coverage.totals()
    legend = Markup(" ").join(
        Markup('<span class="legend-item" data-state="{}" data-count="{}">'
               '<span class="swatch" style="background:{}"></span>{} {:,}</span>').format(
            s, totals[s], STATE_COLOURS.get(s, "#000"), s, totals[s])
        for s in order if s in totals)
    return Markup(
        '<figure class="lifeboat-coverage" data-profile="{}" data-item-type="{}">'
        '<svg viewBox="0 0 {} {}" width="100%" height="{}" preserveAspectRatio="none" '
        'role="img" aria-label="coverage of IDs {} to {}" style="border:1px solid #999">'
        '{}</svg><figcaption><span class="range">IDs {:,} to {:,}, {:,} per column</span> '
        '{}</figcaption></figure>').format(
        coverage.profile, coverage.item_type, WIDTH, height, height, coverage.low,
        coverage.high, Markup("").join(parts), coverage.low, coverage.high,
        coverage.per_slice, legend)

