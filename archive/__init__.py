"""WARC writing and reading: writer, capture middleware, ledger, CDXJ/WACZ, verify."""

from archive.warcio_compat import enable_brotli

enable_brotli()
