"""Two gaps in warcio's readers that lifeboat's archives meet, filled when ``archive`` loads.

**Chunk trailers.** lifeboat archives a chunked answer with its framing, as it crossed the
wire. warcio 1.8's ``ChunkedDataReader`` expects the blank line right after the last
chunk; trailer fields there (``0\r\nX-Checksum: abc\r\n\r\n``, allowed by RFC 9112)
make it give up and return the rest of the block as if it were body.
``enable_chunk_trailers()`` makes warcio's records de-chunk with ``TrailerChunkedDataReader``,
which reads the trailer lines up to the blank line instead. (Digests are unaffected: they
cover the bytes as stored.)

**Brotli.** Let warcio read ``Content-Encoding: br`` answers with the ``brotli`` package Scrapy installs.

warcio 1.8 decodes br with whatever ``import brotli`` gives, written for brotlipy's
Decompressor: it sets ``unused_data`` on it and calls ``decompress``. Google's ``brotli``
(a Scrapy dependency) has a C Decompressor with ``process`` and no attributes to set, so
reading any br answer out of a WARC fails (webrecorder/warcio#73). lifeboat asks servers
for gzip and deflate only, but a server may send br unasked; ``enable_brotli()`` (run
when the ``archive`` package is imported) registers a small adapter with warcio.
"""

from __future__ import annotations

import warcio.recordloader
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader

MAX_TRAILER_LINES = 1000


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


class TrailerChunkedDataReader(ChunkedDataReader):
    """warcio's ChunkedDataReader that also reads the trailer fields after the last chunk."""

    def _try_decode(self, length_header: bytes) -> None:
        size = length_header[:-2].split(b";")[0].strip()
        if length_header[-2:] == b"\r\n" and size and not size.strip(b"0"):  # the last chunk
            for _ in range(MAX_TRAILER_LINES):
                line = self.stream.readline(65536)
                if line in (b"\r\n", b"\n", b""):
                    break
            self.all_chunks_read = True
            self._process_read(b"")
            return
        super()._try_decode(length_header)


def enable_chunk_trailers() -> None:
    """Make warcio's records (``content_stream``) de-chunk with TrailerChunkedDataReader."""
    warcio.recordloader.ChunkedDataReader = TrailerChunkedDataReader
