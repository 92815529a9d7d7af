"""Full-text search over documents, agencies and notes (PostgreSQL FTS or SQLite FTS5).

Public interface: :func:`search` (read), :func:`search_index_document` and
:func:`search_reindex` (write), :func:`parse_query` (pure).
"""

from research.search.query import Query, Term, parse_query

__all__ = [
    "Query",
    "Term",
    "parse_query",
    "search",
    "search_index_document",
    "search_reindex",
]


def __getattr__(name: str):
    # Lazy, so that importing the pure parser never loads Django models.
    if name == "search":
        from research.search.selectors import search

        return search
    if name in {"search_index_document", "search_reindex"}:
        from research.search import sync

        return getattr(sync, name)
    raise AttributeError(name)
