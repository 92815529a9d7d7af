"""Keeping the search index in step with the data.

Database triggers (installed by the research migration and repaired after
every ``migrate``) update the index on every insert, update and delete of a
document, agency or alias, whatever wrote it: services, the admin,
``QuerySet.update()``, ``bulk_create`` or raw SQL. These functions rebuild
entries explicitly: after a bulk load with triggers off, or to repair.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, connections, transaction

from research.search.backends import backend_for
from research.search.facets import install_version


def search_install(*, using: str = "default") -> None:
    """Create or repair the index tables and triggers on database ``using``."""
    conn = connections[using]
    with conn.cursor() as cursor:
        backend_for(conn).install(cursor)
        install_version(cursor, conn.vendor)


def search_index_documents(*, ids: Iterable[int]) -> None:
    """Rebuild the index entries of these documents (removing deleted ones)."""
    ids = [int(i) for i in ids]
    with transaction.atomic(), connection.cursor() as cursor:
        backend = backend_for(connection)
        for start in range(0, len(ids), 500):
            backend.index_documents(cursor, ids[start : start + 500])


def search_index_document(document) -> None:
    """Rebuild one document's index entry (the triggers normally do this)."""
    search_index_documents(ids=[document.pk])


def search_index_agency(agency) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        backend_for(connection).index_agencies(cursor, [agency.pk])


def search_reindex() -> dict[str, int]:
    """Rebuild the whole index; returns how many documents and agencies it holds."""
    with transaction.atomic(), connection.cursor() as cursor:
        backend_for(connection).reindex(cursor)
        cursor.execute("SELECT entry_type, COUNT(*) FROM search_entry GROUP BY entry_type")
        counts = dict(cursor.fetchall())
    return {"documents": counts.get("document", 0), "agencies": counts.get("agency", 0)}


@contextmanager
def search_bulk_load() -> Iterator[None]:
    """Pause the index triggers for a bulk load, then rebuild the index once.

    Loading then indexing in one pass is several times faster than indexing
    row by row. Writes made by others meanwhile are caught by the rebuild.
    """
    with connection.cursor() as cursor:
        backend_for(connection).pause(cursor)
    try:
        yield
    finally:
        search_install()
        search_reindex()
