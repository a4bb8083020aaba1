"""Scrapy's log formatter without the cost of lines nobody sees.

Scrapy builds its "Crawled (200) <GET ...> (referer: ...)" message for every response
before the logging level is checked; at lifeboat's INFO level it is always dropped. Here
it is built only when the engine's logger would print it (``LOG_LEVEL = "DEBUG"``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.logformatter import LogFormatter

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.http import Response

ENGINE_LOG = logging.getLogger("scrapy.core.engine")


class QuietLogFormatter(LogFormatter):
    """The "Crawled" line only when DEBUG logging is on."""

    def crawled(self, request: Request, response: Response, spider: Spider) -> dict[str, Any] | None:
        if not ENGINE_LOG.isEnabledFor(logging.DEBUG):
            return None
        return super().crawled(request, response, spider)
