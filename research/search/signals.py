"""Repair the index triggers after every ``migrate``.

On SQLite, Django alters a table by copying it into a new one, which drops
the triggers defined on the old table; re-installing them (idempotent) after
migrations keeps the index in step whatever the other apps' migrations do.
"""

from __future__ import annotations

from django.db import connections

from research.search.backends.base import ENTRY_TABLE


def repair_search_index(sender, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: re-install the triggers once the index table exists."""
    from research.search.sync import search_install

    if getattr(sender, "name", "") != "research":
        return
    if ENTRY_TABLE in connections[using].introspection.table_names():
        search_install(using=using)
