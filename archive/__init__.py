"""WARC writing and reading: writer, capture, ledger, CDXJ/WACZ, verify."""

from archive.warcio_compat import enable_brotli, enable_chunk_trailers

enable_brotli()
enable_chunk_trailers()
