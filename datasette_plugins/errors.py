"""Keep error pages and the console sane.

Datasette 0.65's default error handler prints a rich traceback with every local variable
for each error, 404s included, whenever `rich` is installed (wacz brings it in through
frictionless and typer). Outside an ``except`` block (a plain 404) that printing itself
raises, turning the 404 into a 500, and a busy archive floods the log with request data.
Datasette still prints real 500s with ``traceback.print_exc``.
"""

from __future__ import annotations

import datasette.handle_exception as default_handler

default_handler.rich = None
