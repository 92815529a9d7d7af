"""The PostgreSQL backend's shortcuts give the answers of the plain way.

A phrase is found by its word pairs, or, with filters, checked only among the
entries they allow; a deep page lists every match once. Small limits make the
shortcuts run on a few documents.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection, transaction

from agreements.models import Agency, AgencyAlias, Agreement
from research.models import Document
from research.search import search
from research.search.backends import postgres
from research.search.backends.postgres import PostgresBackend, to_tsquery_sql
from research.search.query import parse_query
from tests.research import factories
from tests.research.factories import AgencyFactory, DocumentAgencyFactory

pytestmark = pytest.mark.postgres


class DocumentFactory(factories.DocumentFactory):
    # Public-domain text is searchable by everyone (copyrighted text: test_policy.py).
    rights = Document.Rights.PUBLIC_DOMAIN


def titles(query: str, **kwargs) -> list[str]:
    return [hit.title for hit in search(query, **kwargs).hits]


def doc(title: str, text: str, day: int):
    return DocumentFactory(title=title, text=text, published_on=dt.date(2024, 1, day))


def test_a_deep_page_lists_every_match_once(db):
    for day in range(1, 8):
        doc(f"Report {day}", "A detainer.", day)

    seen = [title for page in (1, 2, 3) for title in titles("detainer", page=page, page_size=3)]

    assert sorted(seen) == sorted(f"Report {day}" for day in range(1, 8))


@pytest.fixture
def two_states(db):
    georgia = AgencyFactory(state="GA", name="Cobb County Sheriff's Office")
    texas = AgencyFactory(state="TX", name="Harris County Sheriff's Office")
    documents = {
        "GA task force": ("The task force model was signed.", georgia),
        "GA reversed": ("Force the task, said the sheriff.", georgia),
        "GA jail": ("The county jail and the task force model.", georgia),
        "TX task force": ("The task force model in Houston.", texas),
        "TX plain": ("The sheriff spoke of force.", texas),
    }
    for day, (title, (text, agency)) in enumerate(documents.items(), start=1):
        DocumentAgencyFactory(document=doc(title, text, day), agency=agency, status="confirmed")


@pytest.mark.parametrize(
    "query",
    [
        '"task force"',
        '"task force" -jail',
        'sheriff -"task force"',
        'force -"county jail"',
        '-"task force"',
        '"task force" -"county jail"',
    ],
)
def test_phrases_checked_among_filtered_entries_match_as_without_filters(
    two_states, monkeypatch, query
):
    monkeypatch.setattr(postgres, "WITHIN_GAIN", 0)
    monkeypatch.setattr(postgres, "_match_by_pairs", lambda *args: None)
    parsed = parse_query(query)
    backend = PostgresBackend()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM search_entry ORDER BY id")
        everything = np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)
        within = everything[:-1]  # every entry but one: the filtered way is taken
        filtered = backend.match_ids(cursor, parsed, within=within)
        plain = backend.match_ids(cursor, parsed)
    assert filtered.excluded == plain.excluded
    assert sorted(np.intersect1d(filtered.ids, within)) == sorted(np.intersect1d(plain.ids, within))


@pytest.mark.parametrize("pairs", [True, False], ids=["word-pairs", "positions-within"])
def test_phrase_search_with_a_state_filter(two_states, monkeypatch, pairs):
    monkeypatch.setattr(postgres, "WITHIN_GAIN", 0)
    if not pairs:
        monkeypatch.setattr(postgres, "_match_by_pairs", lambda *args: None)

    assert sorted(titles('"task force"', filters={"state": ["GA"]})) == [
        "GA jail",
        "GA task force",
    ]
    assert titles('"task force" -"county jail"', filters={"state": ["GA"]}) == ["GA task force"]
    assert sorted(titles('sheriff -"task force"', filters={"state": ["GA", "TX"]})) == [
        "Cobb County Sheriff's Office",
        "GA reversed",
        "Harris County Sheriff's Office",
        "TX plain",
    ]


@pytest.fixture
def phrasings(db):
    """Phrases across the title, summary and text, repeated, reversed and split by stop words."""
    texts = {
        "Task force report": ("", "The task force model was signed."),
        "Signed task": ("force model", "Nothing else."),
        "Reversed": ("", "Force the task, said the sheriff; task forces."),
        "Said he said": ("", "He said he said so. Said said."),
        "Stake": ("", "A stake over hear, a stake near hear."),
        "County jail": ("", "The county jail and the task force model."),
        "Sheriff alone": ("", "The sheriff spoke of force."),
    }
    for day, (title, (summary, text)) in enumerate(texts.items(), start=1):
        DocumentFactory(title=title, summary=summary, text=text, published_on=dt.date(2024, 1, day))
    AgencyFactory(name="Task Force Sheriff's Office", state="GA")


def _checked_on_positions(cursor, query) -> list[int]:
    """What PostgreSQL's own phrase check on every entry's positions matches."""
    positive, pos_params, negative, neg_params = to_tsquery_sql(query)
    tsquery = f"({positive}) && !!({negative})" if negative else positive
    cursor.execute(
        f"SELECT id FROM search_words WHERE vector @@ ({tsquery}) ORDER BY id",  # noqa: S608 - terms are parameters
        [*pos_params, *neg_params],
    )
    return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(
    "query",
    [
        '"task force"',
        '"task force model"',
        '"the task force"',
        '"force task"',
        '"signed task force"',  # across the title and the summary: fields stand apart
        '"task force" OR jail',
        '"task force" OR "county jail"',
        '"task force" -model',
        'sheriff -"task force"',
        'force -"task force model"',
        '"task force" -"county jail"',
        '"said said"',
        '"he said he said"',
        '"stake over hear"',  # no two words adjacent: positions are checked
        '"model was signed"',
        '"task force" "county jail"',
        '"sheriff\'s office"',
    ],
)
@pytest.mark.parametrize("by_key", [500, 0], ids=["few-checked-by-key", "by-index"])
def test_word_pairs_find_what_the_position_check_finds(phrasings, monkeypatch, query, by_key):
    monkeypatch.setattr(postgres, "VERIFY_BY_KEY", by_key)
    parsed = parse_query(query)
    with transaction.atomic(), connection.cursor() as cursor:
        expected = _checked_on_positions(cursor, parsed)
        found = PostgresBackend().match_ids(cursor, parsed)
    assert not found.excluded
    assert sorted(found.ids.tolist()) == expected
    # The queries do find something, but for the reversed phrase and the one across fields.
    assert bool(expected) != (query in {'"force task"', '"signed task force"'})


def test_a_phrase_found_by_its_pairs_follows_an_edited_text(phrasings):
    document = DocumentFactory(title="Later", text="Nothing about it.")
    assert "Later" not in titles('"jail enforcement model"')

    document.text = "A jail enforcement model agreement."
    document.save()

    assert "Later" in titles('"jail enforcement model"')
    assert "Later" in titles('"enforcement model"')


def test_texts_of_very_long_or_very_many_words_are_saved_and_found(db):
    # A pair of two 1,500-letter words, or 60,000 words (past the last position
    # PostgreSQL keeps), must neither fail the write nor hide the other phrases.
    DocumentFactory(title="Long words", text=f"{'a' * 1500} {'b' * 1500} jail enforcement model.")
    DocumentFactory(title="Many words", text=" ".join(f"w{i}x" for i in range(60_000)))

    assert titles('"jail enforcement model"') == ["Long words"]
    assert titles('"w10x w11x"') == ["Many words"]
    assert titles('"w10x w12x"') == []


def test_bulk_writes_of_agencies_aliases_and_agreements_keep_the_index(db):
    """An import writes each table in one statement; statement triggers index them all."""
    agencies = Agency.objects.bulk_create(
        AgencyFactory.build(name=f"Zephyr County {i} Sheriff", state="GA") for i in range(3)
    )
    AgencyAlias.objects.bulk_create(
        AgencyAlias(agency=a, name=f"Quokka office {i}", state="GA", name_key=f"quokka-{i}")
        for i, a in enumerate(agencies)
    )
    Agreement.objects.bulk_create(Agreement(agency=a, model="TFM") for a in agencies)

    results = search("quokka")
    assert results.total == 3
    assert {v.value: v.count for v in results.facets["model"]} == {"TFM": 3}

    AgencyAlias.objects.filter(agency=agencies[0]).update(name="Wombat office")
    assert search("quokka").total == 2
    assert titles("wombat") == ["Zephyr County 0 Sheriff"]

    AgencyAlias.objects.filter(agency=agencies[1]).delete()
    Agreement.objects.filter(agency=agencies[2]).delete()
    results = search("quokka")
    assert results.total == 1
    assert results.facets["model"] == []

    Agreement.objects.all().delete()
    Agency.objects.filter(pk=agencies[0].pk).delete()
    assert search("zephyr").total == 2


@pytest.mark.parametrize("query", ['"task force"', "task -model", '"task force" -"county jail"'])
def test_title_and_summary_matches_among_a_few_entries_are_those_of_all(phrasings, query):
    parsed = parse_query(query)
    backend = PostgresBackend()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM search_entry ORDER BY id")
        within = np.array([row[0] for row in cursor.fetchall()][1:], dtype=np.int64)
        among = backend.match_ids(cursor, parsed, within=within, head=True)
        everywhere = backend.match_ids(cursor, parsed, head=True)
    assert not among.excluded and not everywhere.excluded
    assert sorted(among.ids) == sorted(np.intersect1d(everywhere.ids, within))
    assert len(among.ids)  # the titles and summaries do match


def test_a_search_pages_statements_are_planned_once_a_connection(client, db):
    """The page's statements are the same text whatever the hits (the ids are a
    parameter), so PostgreSQL prepares them once a connection and plans them no more."""
    agency = AgencyFactory(name="Anne Arundel County Sheriff's Office")
    for day in range(1, 4):
        DocumentAgencyFactory(document=doc(f"Report {day}", "A detainer.", day), agency=agency)
    doc("Anne Arundel County report", "On the sheriff's agreement.", 4)
    # Six pages of hits, each with other documents and the agency or not.
    for query in ("detainer", "report 1", "report 2", "anne arundel", "report 3", "a detainer"):
        assert "hit-document" in client.get("/search/", {"q": query}).content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("ANY(" in sql and "research_document d" in sql for sql in prepared), prepared
    assert any("search_version" in sql for sql in prepared), prepared
