"""lifeboat's Datasette plugins: media from the WARCs, evidence pages, map, cell rendering.

Datasette loads this package through the ``datasette`` entry point (which also makes its
``templates/`` available); each submodule holds one hook concern and is registered here.
"""

from datasette.plugins import pm

from datasette_plugins import (  # noqa: F401
    csv_links, errors, evidence, examples, layout, render, sql_functions, timeline,
    warc_media,
)

HOOK_MODULES = (csv_links, evidence, examples, layout, render, sql_functions, timeline,
                warc_media)

for _module in HOOK_MODULES:
    if not pm.is_registered(_module):
        pm.register(_module, name=_module.__name__)
