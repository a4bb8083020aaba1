"""WARC writing and reading: writer, capture middleware, ledger, CDXJ/WACZ, verify."""
