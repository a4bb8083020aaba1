"""lifeboat's Datasette plugins: media from the WARCs, evidence pages, map, cell rendering.

Registered through the ``datasette`` entry point; each module holds one hook concern.
"""

from datasette_plugins import evidence, render, sql_functions, warc_media  # noqa: F401
