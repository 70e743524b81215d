"""The embedded SQLite store, the default backend of a single-machine install."""

from store.sqlite.backend import SQLiteStore

__all__ = ["SQLiteStore"]
