"""Keeping the search index in step with the data, and checking its schema.

Database triggers (created by research migrations 0008_search_schema and
0013_search_notes) update the index on every insert, update and delete of a
document, agency, alias, note, note's tag or tag name,
whatever wrote it: services, the admin, ``QuerySet.update()``, ``bulk_create``
or raw SQL. These functions rebuild entries explicitly: after a bulk load with
triggers off, or to repair.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, connections, transaction
from django.db.migrations.loader import MigrationLoader

from research.search.backends import backend_for
from research.search.backends.base import Schema


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
    """Rebuild one agency's index entry (the triggers normally do this)."""
    with transaction.atomic(), connection.cursor() as cursor:
        backend_for(connection).index_agencies(cursor, [agency.pk])


def search_reindex() -> dict[str, int]:
    """Rebuild the whole index; returns how many documents and agencies it holds."""
    with transaction.atomic(), connection.cursor() as cursor:
        backend = backend_for(connection)
        backend.reindex(cursor)
        counts = backend.entry_counts(cursor)
    return {"documents": counts.get("document", 0), "agencies": counts.get("agency", 0)}


def search_postings_refresh() -> int:
    """Read again the common words' postings that writes made stale (ranking keeps
    them in the database for every process); returns how many words."""
    from research.search.ranking import refresh_shared

    return refresh_shared(connection)


def search_warm() -> dict[str, int]:
    """Read this process's search arrays and the common words' kept postings now,
    rather than in its first searches (a gunicorn worker, before its first request:
    portal/gunicorn.py); returns how many entries and words."""
    from research.search.facets import facet_index
    from research.search.ranking import warm

    with connection.cursor() as cursor:
        backend = backend_for(connection)
        index = facet_index(connection, cursor, backend)
        words = warm(cursor, backend, index)
    return {"entries": index.size, "words": words}


@contextmanager
def search_bulk_load() -> Iterator[None]:
    """Pause the index triggers for a bulk load, then rebuild the index once.

    Loading then indexing in one pass is several times faster than indexing
    row by row. Writes made by others meanwhile are caught by the rebuild.
    """
    try:
        with connection.cursor() as cursor, backend_for(connection).paused(cursor):
            yield
    finally:  # a load that failed half way may have committed some batches
        search_reindex()


def declared_schema(*, using: str = "default") -> Schema:
    """The search schema that the research migrations applied to ``using`` declare.

    The last applied migration with a ``SCHEMA`` (per vendor) describes the whole
    schema as it left it; with none applied, there is no search schema.
    """
    conn = connections[using]
    loader = MigrationLoader(conn)
    applied = set(loader.applied_migrations)
    plan = [
        key
        for leaf in loader.graph.leaf_nodes("research")
        for key in loader.graph.forwards_plan(leaf)
        if key[0] == "research" and key in applied
    ]
    for key in reversed(plan):
        declaration = getattr(sys.modules[type(loader.graph.nodes[key]).__module__], "SCHEMA", None)
        if declaration is not None:
            return Schema.declared(declaration[conn.vendor])
    return Schema()


def search_schema_differences(*, using: str = "default") -> list[str]:
    """A sentence for each difference between the database's search objects and the migrations'."""
    conn = connections[using]
    expected = declared_schema(using=using)
    with conn.cursor() as cursor:
        found = backend_for(conn).schema(cursor)
    problems = []
    for name, columns in sorted(expected.tables.items()):
        if name not in found.tables:
            problems.append(f"Table {name} is missing.")
        elif columns is not None and found.tables[name] != columns:
            problems.append(
                f"Table {name} has columns {', '.join(found.tables[name])}; "
                f"the migrations created {', '.join(columns)}."
            )
    problems += [
        f"Table {name} is not one the migrations created."
        for name in sorted(found.tables.keys() - expected.tables.keys())
    ]
    for kind, wanted, present in (
        ("Index", expected.indexes, found.indexes),
        ("Function", expected.functions, found.functions),
    ):
        problems += [f"{kind} {name} is missing." for name in sorted(wanted - present)]
        problems += [
            f"{kind} {name} is not one the migrations created." for name in sorted(present - wanted)
        ]
    problems += [
        f"Trigger {name} on {on} is missing."
        for name, on in sorted(expected.triggers - found.triggers)
    ]
    problems += [
        f"Trigger {name} on {on} is not one the migrations created."
        for name, on in sorted(found.triggers - expected.triggers)
    ]
    return problems
