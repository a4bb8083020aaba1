"""Page layout: the rows before the reading.

Datasette lists every column's description above a table (on media_metadata about 700 px
before the first row). A small inline script folds that list into a closed "What the
columns mean" and puts each description on its column header as a tooltip. Without
script the list stays as it was.
"""

from __future__ import annotations

from datasette import hookimpl

FOLD_COLUMN_DESCRIPTIONS = """
document.querySelectorAll("dl.column-descriptions").forEach((dl) => {
  const meanings = {};
  dl.querySelectorAll("dt").forEach((dt) => {
    const dd = dt.nextElementSibling;
    if (dd && dd.tagName === "DD") meanings[dt.textContent.trim()] = dd.textContent.trim();
  });
  document.querySelectorAll("th[data-column]").forEach((th) => {
    const meaning = meanings[th.dataset.column];
    if (meaning && !th.title) th.title = meaning;
  });
  const details = document.createElement("details");
  details.className = "column-descriptions";
  const summary = document.createElement("summary");
  summary.textContent = "What the " + Object.keys(meanings).length + " columns mean";
  dl.replaceWith(details);
  details.append(summary, dl);
});
"""


@hookimpl
def extra_body_script(view_name):
    """Fold column descriptions on table pages."""
    return FOLD_COLUMN_DESCRIPTIONS if view_name == "table" else ""
