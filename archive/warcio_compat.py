"""Let warcio read ``Content-Encoding: br`` answers with the ``brotli`` package Scrapy installs.

warcio 1.8 decodes br with whatever ``import brotli`` gives, written for brotlipy's
Decompressor: it sets ``unused_data`` on it and calls ``decompress``. Google's ``brotli``
(a Scrapy dependency) has a C Decompressor with ``process`` and no attributes to set, so
reading any br answer out of a WARC fails (webrecorder/warcio#73). lifeboat asks servers
for gzip and deflate only, but a server may send br unasked; ``enable_brotli()`` (run
when the ``archive`` package is imported) registers a small adapter with warcio.
"""

from __future__ import annotations

from warcio.bufferedreaders import BufferedReader


class BrotliDecompressor:
    """brotlipy's Decompressor interface over Google's ``brotli.Decompressor``."""

    def __init__(self) -> None:
        import brotli

        self._decompressor = brotli.Decompressor()
        self.unused_data = b""  # a br stream has no members after it

    def decompress(self, data: bytes) -> bytes:
        return self._decompressor.process(data)


def enable_brotli() -> None:
    """Register the adapter unless warcio's own br decoding works (brotlipy) or is absent."""
    try:
        import brotli
    except ImportError:
        return
    try:
        brotli.Decompressor().unused_data = None
    except AttributeError:
        BufferedReader.DECOMPRESSORS["br"] = BrotliDecompressor
