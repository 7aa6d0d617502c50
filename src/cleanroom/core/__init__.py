"""Helpers every process shares, with no server and no framework: times, canonical JSON,
hashing, sizes, SQLite setup and the one sandboxed DuckDB connection."""
