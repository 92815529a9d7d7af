"""On SQLite, a write to an agency's aliases changes the search index's version token.

The aliases are words of the agency's entry (its summary) and nothing of its
facets, so 0008's triggers left the token alone. Searches now match plain words
from postings kept at a token (research/search/ranking.py), so every write to
the words must change it. On PostgreSQL an alias write already rewrites the
agency's entry, which changes the token.
"""

import importlib

from django.db import migrations

_SCHEMA_0008 = importlib.import_module("research.migrations.0008_search_schema")
ForVendor = _SCHEMA_0008.ForVendor
ALIASES = _SCHEMA_0008.SQLITE_ALIASES
BUMP = _SCHEMA_0008.SQLITE_BUMP


def _triggers(bump: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS search_alias_insert",
        "DROP TRIGGER IF EXISTS search_alias_update",
        "DROP TRIGGER IF EXISTS search_alias_delete",
        f"""CREATE TRIGGER search_alias_insert AFTER INSERT ON agreements_agencyalias BEGIN
    {ALIASES.format("new")}{bump}
END""",
        f"""CREATE TRIGGER search_alias_update
    AFTER UPDATE OF name, agency_id ON agreements_agencyalias
BEGIN
    {ALIASES.format("old")}
    {ALIASES.format("new")}{bump}
END""",
        f"""CREATE TRIGGER search_alias_delete AFTER DELETE ON agreements_agencyalias BEGIN
    {ALIASES.format("old")}{bump}
END""",
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0018_document_submitted_by_partial_index"),
    ]

    operations = [
        ForVendor("sqlite", _triggers(f"\n    {BUMP}"), _triggers("")),
    ]
