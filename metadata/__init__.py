"""ExifTool runner, GPS / time normalisation, and the SQLite schema."""
