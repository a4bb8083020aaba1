"""CSV links that give every row, as a download with a filename.

Datasette's own CSV link on a table page asks for one page of at most
``max_returned_rows`` (1,000) rows, and serves it as ``text/plain``: a person clicking it
silently gets a fraction of the table, opened as text. Table pages here link to the
streaming export instead (``_stream=on``: every row, page after page) with ``_dl=on``
(``text/csv`` and ``Content-Disposition: attachment``).

A query page's CSV cannot stream in Datasette (a query has no next page: its rows stop at
``max_returned_rows``), so query pages link to ``/-/csv/<query>`` (a canned query) or
``/-/csv?sql=...``: the same query, with the same permissions, every row.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils import derive_named_parameters, path_with_format
from datasette.database import QueryInterrupted
from datasette.utils.asgi import AsgiStream, NotFound, Response

from datasette_plugins.warc_media import archive_database, check_visible

# Query-string keys a table page's CSV link must not carry: the page it was on (_next),
# its page size, and the flags the link sets itself.
DROPPED_KEYS = {"_next", "_size", "_stream", "_dl", "_format"}
# A whole query's rows are gathered under this time limit (Datasette's own is per page).
QUERY_CSV_TIME_LIMIT_MS = 60_000
CSV_CHUNK_ROWS = 1000


def with_query(path: str, pairs: list[tuple[str, str]]) -> str:
    """``path`` with ``pairs`` appended to its query string."""
    if not pairs:
        return path
    return f"{path}{'&' if '?' in path else '?'}{urlencode(pairs)}"


async def table_csv_url(datasette, request, database: str, table: str) -> str:
    """The CSV of every row of the table page ``request`` shows (filters and search kept),
    streamed and downloaded.

    A table with a single-column key is exported in key order: Datasette 0.65 pages a
    sorted table by (sort value, key) but leaves the key out of its first page's ORDER BY,
    so rows sharing a sort value (posts made in the same second) can come twice or never
    across its pages; in key order every row comes exactly once.
    """
    pairs = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
             if k not in DROPPED_KEYS]
    db = datasette.get_database(database)
    if table not in await db.view_names():
        keys = await db.primary_keys(table)
        if len(keys) <= 1:
            pairs = [(k, v) for k, v in pairs if k not in ("_sort", "_sort_desc")]
            pairs.append(("_sort", keys[0] if keys else "rowid"))
    base = path_with_format(path=request.path, format="csv")
    return with_query(base, pairs + [("_size", "max"), ("_stream", "on"), ("_dl", "on")])


def query_csv_url(request) -> str:
    """The full CSV of the query page ``request`` shows: ``/-/csv/<name>`` for a canned
    query, ``/-/csv?sql=...`` for SQL typed in."""
    pairs = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
             if not k.startswith("_")]
    name = request.url_vars.get("table")
    return with_query(f"/-/csv/{name}" if name else "/-/csv", pairs)


def is_page(template: str, kind: str) -> bool:
    """Whether ``template`` renders a ``kind`` page: ``table.html`` or a custom
    ``table-<database>-<table>.html`` that extends it."""
    return template == f"{kind}.html" or template.startswith(f"{kind}-")


@hookimpl
def extra_template_vars(template, database, table, request, datasette):
    """Point the CSV links of table and query pages at every row, downloaded."""

    async def links():
        if request is None:
            return {}
        if is_page(template, "table") and database and table:
            return {"url_csv": await table_csv_url(datasette, request, database, table)}
        if is_page(template, "query"):
            return {"url_csv": query_csv_url(request)}
        return {}

    return links


def csv_filename(name: str) -> str:
    """A safe download filename for ``name``."""
    return (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "query") + ".csv"


async def query_csv(datasette, request):
    """Every row of a canned query (or, with execute-sql permission, of ``?sql=``) as CSV."""
    db = archive_database(datasette)
    await check_visible(datasette, request, db)
    name = request.url_vars.get("query")
    if name:
        canned = await datasette.get_canned_query(db.name, name, request.actor)
        if canned is None:
            raise NotFound(f"no ready-made query named {name}")
        await datasette.ensure_permissions(request.actor, [("view-query", (db.name, name))])
        sql = canned["sql"]
    else:
        sql = request.args.get("sql")
        if not sql:
            raise NotFound("give the query as ?sql=...")
        await datasette.ensure_permissions(request.actor, [("execute-sql", db.name)])
        name = db.name
    params = {p: request.args.get(p, "") for p in await derive_named_parameters(db, sql)}
    try:
        results = await db.execute(sql, params, truncate=False,
                                   custom_time_limit=QUERY_CSV_TIME_LIMIT_MS)
    except QueryInterrupted:
        return Response.text(f"the query took longer than {QUERY_CSV_TIME_LIMIT_MS // 1000} s:"
                             " narrow it (a smaller window, radius or filter)", status=400)
    except sqlite3.DatabaseError as error:
        return Response.text(f"the query failed: {error}", status=400)
    columns = [d[0] for d in results.description]
    rows = results.rows

    async def stream(writer):
        for start in range(0, max(len(rows), 1), CSV_CHUNK_ROWS):
            out = io.StringIO()
            table = csv.writer(out)
            if start == 0:
                table.writerow(columns)
            table.writerows(tuple(r) for r in rows[start:start + CSV_CHUNK_ROWS])
            await writer.write(out.getvalue())

    return AsgiStream(stream, content_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{csv_filename(name)}"'})


@hookimpl
def register_routes():
    return [
        (r"^/-/csv/(?P<query>[^/]+)$", query_csv),
        (r"^/-/csv$", query_csv),
    ]
