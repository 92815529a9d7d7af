"""Full-text search backends: one per database vendor, behind one interface."""

from __future__ import annotations

from research.search.backends.base import SearchBackend


def backend_for(connection) -> SearchBackend:
    """The backend for ``connection``'s database vendor."""
    if connection.vendor == "postgresql":
        from research.search.backends.postgres import PostgresBackend

        return PostgresBackend()
    if connection.vendor == "sqlite":
        from research.search.backends.sqlite import SqliteBackend

        return SqliteBackend()
    raise NotImplementedError(f"Search supports PostgreSQL and SQLite, not {connection.vendor}.")
