"""The search schema comes from the migrations, and search_check compares a database with it.

Each test runs on the database of the run (SQLite, or PostgreSQL with
DATABASE_URL), so CI covers both.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from research.models import Document
from research.search import search
from tests.research.factories import AgencyFactory, DocumentFactory

# Public-domain text is searchable by everyone (copyrighted text: test_policy.py).
PUBLIC = Document.Rights.PUBLIC_DOMAIN


def check() -> str:
    """search_check's report: its sentences, or "" when the schema matches."""
    try:
        call_command("search_check", stdout=io.StringIO())
    except CommandError as error:
        return str(error)
    return ""


def execute(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def drop_trigger(name: str, table: str) -> None:
    on = f" ON {table}" if connection.vendor == "postgresql" else ""
    execute(f"DROP TRIGGER {name}{on}")


def test_a_migrated_database_matches_the_migrations(db):
    assert check() == ""


def test_a_dropped_trigger_is_reported_and_the_command_fails(db):
    drop_trigger("search_alias_delete", "agreements_agencyalias")

    with pytest.raises(CommandError) as failure:
        call_command("search_check")

    assert failure.value.returncode == 1
    assert "Trigger search_alias_delete on agreements_agencyalias is missing." in str(failure.value)


def test_a_lost_rights_trigger_is_reported(db):
    """Public search reloads which documents are copyrighted when a rights update
    changes the version token: the trigger that does it is part of the schema."""
    if connection.vendor == "postgresql":
        name = "search_version_bump"
    else:
        name = "search_version_research_document_update"
    drop_trigger(name, "research_document")

    assert f"Trigger {name} on research_document is missing." in check()


def test_a_missing_column_and_an_extra_index_are_reported(db):
    execute("CREATE INDEX search_entry_by_kind ON search_entry (kind)")
    if connection.vendor == "postgresql":
        execute("ALTER TABLE search_entry DROP COLUMN head")
    else:
        execute("DROP TABLE search_state", "CREATE TABLE search_state (code varchar(2))")

    report = check()

    assert "Index search_entry_by_kind is not one the migrations created." in report
    changed = "search_entry" if connection.vendor == "postgresql" else "search_state"
    assert f"Table {changed} has columns" in report


@pytest.fixture
def back_to_0001(transactional_db):
    """Leaves the research app fully migrated, whatever the test did."""
    yield
    call_command("migrate", verbosity=0)


def test_migrating_back_and_forward_rebuilds_the_schema_and_the_index(back_to_0001):
    DocumentFactory(title="Zeppelin hangar", text="An airship.", rights=PUBLIC)
    AgencyFactory(name="Airship County Sheriff")

    call_command("migrate", "research", "0001", verbosity=0)
    tables = connection.introspection.table_names()
    assert not [name for name in tables if name.startswith("search_")]
    assert check() == ""

    call_command("migrate", verbosity=0)

    assert check() == ""
    assert search("airship").total == 2


def test_an_index_installed_by_earlier_code_is_replaced(back_to_0001):
    """0008 drops what the code before it installed, under any name, and indexes the rows."""
    DocumentFactory(title="Zeppelin hangar", text="An airship.", rights=PUBLIC)
    call_command("migrate", "research", "0005", verbosity=0)
    # Leftovers in the shape the earlier install() gave them.
    if connection.vendor == "postgresql":
        execute(
            "CREATE TABLE search_entry (id bigint PRIMARY KEY, states varchar(2)[])",
            "CREATE FUNCTION search_alias_sync() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NULL; END $$",
            "CREATE TRIGGER search_alias_sync_row AFTER INSERT ON agreements_agencyalias"
            " FOR EACH ROW EXECUTE FUNCTION search_alias_sync()",
        )
    else:
        execute(
            "CREATE TABLE search_entry (id integer PRIMARY KEY)",
            "CREATE TRIGGER search_document_old AFTER INSERT ON research_document"
            " BEGIN DELETE FROM search_entry; END",
        )
    assert "is not one the migrations created" in check()  # judged against 0005: none

    call_command("migrate", verbosity=0)

    assert check() == ""
    assert [hit.title for hit in search("airship").hits] == ["Zeppelin hangar"]


def test_a_bulk_load_pauses_the_triggers_and_leaves_them_as_the_migrations_made_them(
    transactional_db,
):
    # Outside a test transaction, as a bulk load runs: PostgreSQL refuses to switch
    # triggers back on while the transaction holds deferred foreign-key checks.
    from research.search.sync import search_bulk_load

    with search_bulk_load():
        DocumentFactory(title="Zeppelin hangar", text="An airship.", rights=PUBLIC)
        AgencyFactory(name="Airship County Sheriff")

    assert check() == ""
    assert search("airship").total == 2
    DocumentFactory(title="Blimp", text="Another airship.", rights=PUBLIC)  # the triggers index it
    assert search("airship").total == 3
