"""Common words' postings kept in the database for every process (research/search/ranking.py).

A second process (here: the process's own postings forgotten) ranks from the
kept postings without reading the index; a write makes them stale, and stale
postings are never used. Each test runs on the database of the run.
"""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection

from research.models import Document
from research.search import ranking, search
from research.search.backends import backend_for
from research.search.sync import search_postings_refresh
from tests.conftest import second_connection
from tests.research.factories import DocumentFactory


def doc(title: str, text: str) -> Document:
    return DocumentFactory(title=title, text=text, rights=Document.Rights.PUBLIC_DOMAIN)


def ranked(query: str) -> list[tuple[str, float]]:
    return [(hit.title, round(hit.score, 9)) for hit in search(query).hits]


def kept() -> dict[str, tuple[int, int]]:
    """stem -> (token, entries) of the postings kept in the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT stem, token, ids FROM search_postings")
        return {stem: (token, len(bytes(ids)) // 8) for stem, token, ids in cursor.fetchall()}


def token() -> int:
    with connection.cursor() as cursor:
        return backend_for(connection).version(cursor)


@pytest.fixture
def common(monkeypatch, db):
    """Three entries make a word common; each test starts as a new process."""
    monkeypatch.setattr(ranking, "SHARED_MIN_ENTRIES", 3)
    ranking.clear()
    yield
    ranking.clear()


@pytest.fixture
def index_unread(monkeypatch):
    """Reading a word's postings from the index fails the test."""

    def refuse(self, cursor, stems):
        raise AssertionError(f"postings of {stems} read from the index")

    monkeypatch.setattr(type(backend_for(connection)), "postings", refuse)


def detainer_documents() -> None:
    doc("Detainer memo", "The detainer policy. Detainers were honored; detainer requests rose.")
    doc("Jail report", "One detainer was lodged.")
    doc("Budget detainer line", "Money for the jail.")
    doc("Roads", "Nothing about it.")


def test_a_second_process_ranks_a_common_word_from_the_kept_postings(common, request):
    detainer_documents()
    first = ranked("detainer")
    assert kept() == {"detain": (token(), 3)}

    ranking.clear()  # another process: nothing of its own yet
    request.getfixturevalue("index_unread")
    assert ranked("detainer") == first
    assert len(first) == 3 and first[0][1] > first[2][1]


def test_keeping_postings_leaves_the_transaction_waiting_for_locks_as_before(common):
    detainer_documents()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW lock_timeout")
        else:
            cursor.execute("PRAGMA busy_timeout")
        (before,) = cursor.fetchone()
        ranked("detainer")
        assert kept()
        cursor.execute(
            "SHOW lock_timeout" if connection.vendor == "postgresql" else "PRAGMA busy_timeout"
        )
        assert cursor.fetchone() == (before,)


def test_rare_words_are_not_kept(common):
    detainer_documents()
    ranked("jail")  # two entries
    assert kept() == {}


def test_postings_kept_before_a_write_are_never_used_after_it(common, request):
    detainer_documents()
    ranked("detainer")
    before = token()
    doc("Detainer detainer detainer", "Detainer detainer detainer detainer.")
    assert token() != before

    ranking.clear()
    hits = ranked("detainer")
    assert hits[0][0] == "Detainer detainer detainer" and len(hits) == 4
    # Read again from the index, and kept at the new version for the next process.
    assert kept() == {"detain": (token(), 4)}
    ranking.clear()
    request.getfixturevalue("index_unread")
    assert ranked("detainer") == hits


def test_the_refresh_reads_again_what_writes_made_stale(common, request):
    detainer_documents()
    doc("Sheriff one", "sheriff")
    doc("Sheriff two", "sheriff")
    doc("Sheriff three", "sheriff sheriff")
    ranked("detainer"), ranked("sheriff")
    doc("Fourth detainer", "detainer detainer detainer detainer detainer")

    assert search_postings_refresh() == 2
    assert kept() == {"detain": (token(), 4), "sheriff": (token(), 3)}
    assert search_postings_refresh() == 0  # nothing stale is left

    ranking.clear()
    request.getfixturevalue("index_unread")
    assert [title for title, _score in ranked("detainer")][0] == "Fourth detainer"


def test_a_word_no_longer_common_is_forgotten_by_the_refresh(common):
    detainer_documents()
    ranked("detainer")
    Document.objects.filter(title="Jail report").delete()

    assert search_postings_refresh() == 1
    assert kept() == {}
    assert len(ranked("detainer")) == 2


def test_a_search_does_not_wait_for_a_writer_to_keep_its_postings(common, transactional_db):
    """Another connection holds the table's lock: the search ranks from the index
    and gives up keeping the postings rather than wait."""
    detainer_documents()
    if connection.vendor == "postgresql":
        other = second_connection()
        other.execute("LOCK TABLE search_postings IN EXCLUSIVE MODE")
        with connection.cursor() as cursor:  # a hang would end here, not in the suite
            cursor.execute("SET statement_timeout = '20s'")
    else:
        # The test database is in memory with a shared cache, open to a second connection.
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, uri=True)
        other.execute("BEGIN IMMEDIATE")
    try:
        hits = ranked("detainer")
    finally:
        other.rollback()
        other.close()

    assert sorted(title for title, _score in hits) == [
        "Budget detainer line",
        "Detainer memo",
        "Jail report",
    ]
    assert kept() == {}
    ranked("detainer")  # this process kept them: nothing more is read or written
    assert kept() == {}
    ranking.clear()
    ranked("detainer")
    assert kept() == {"detain": (token(), 3)}


def test_celery_beat_refreshes_the_postings_every_few_minutes(common):
    from portal.celery import app
    from research.tasks import search_postings_refresh_task

    entry = app.conf.beat_schedule["research-refresh-search-postings"]
    assert entry["task"] == search_postings_refresh_task.name
    detainer_documents()
    ranked("detainer")
    doc("Another detainer", "detainer")
    assert search_postings_refresh_task.apply().get() == 1
    assert kept() == {"detain": (token(), 4)}


# --- Words matched from the postings -------------------------------------------------

WORD_QUERIES = [
    "detainer",
    "detainer jail",
    "detainer OR roads",
    "jail OR money detainer",
    "detainer -jail",
    "-jail",
    "jail OR roads -detainer -money",
    "nowhere",
    "detainer nowhere",
    # Words from the postings, phrases from the database, joined as sets.
    'jail "detainer policy"',
    '"detainer policy" OR roads',
    'detainer -"the jail"',
    'detainer -"detainer policy" -money',
    '"jail money" OR "detainer policy" detainer',
    # One stem once PostgreSQL drops its stop words: that word; a phrase to SQLite.
    'detainer OR "the jail"',
    'detainer -"the roads"',
    # Phrases only: each matched by the database over the whole index, then kept.
    '"detainer policy"',
    '"detainer policy" -"jail money"',
    '-"jail money"',
    "287(g)",
]


def matched_by_postings(query: str, *, head: bool = False) -> tuple[list[int], bool]:
    from research.search.facets import facet_index
    from research.search.query import parse_query

    backend = backend_for(connection)
    with connection.cursor() as cursor:
        index = facet_index(connection, cursor, backend)
        found = ranking.match_rows(cursor, backend, index, parse_query(query), head=head)
        assert found is not None, f"{query!r} was not matched from the postings"
        rows, excluded = found
        return sorted(index.ids[rows].tolist()), excluded


def matched_by_the_database(query: str, *, head: bool = False) -> tuple[list[int], bool]:
    from research.search.query import parse_query

    with connection.cursor() as cursor:
        matches = backend_for(connection).match_ids(cursor, parse_query(query), head=head)
        return sorted(matches.ids.tolist()), matches.excluded


@pytest.mark.parametrize("head", [False, True], ids=["full text", "title and summary"])
def test_plain_words_match_from_the_postings_exactly_as_the_database_matches_them(common, head):
    detainer_documents()
    doc("Detainer roads", "Jail money.")
    DocumentFactory(title="Roads", summary="A detainer in the summary only", text="jail")
    for query in WORD_QUERIES:
        expected = matched_by_the_database(query, head=head)
        assert matched_by_postings(query, head=head) == expected, query
    assert matched_by_postings("detainer -jail", head=head)[0]  # not all empty


def test_a_phrase_is_asked_of_the_database_once_until_a_write(common, monkeypatch):
    detainer_documents()
    assert search('"detainer policy"').total == 1
    asked = []
    match_ids = type(backend_for(connection)).match_ids

    def counted(self, cursor, query, within=None, *, head=False):
        asked.append(str(query))
        return match_ids(self, cursor, query, within, head=head)

    monkeypatch.setattr(type(backend_for(connection)), "match_ids", counted)
    assert search('"detainer policy"').total == 1
    assert {hit.title for hit in search('jail OR detainer -"detainer policy"').hits} == {
        "Jail report",
        "Budget detainer line",
    }
    assert asked == []
    doc("Policy", "Another detainer policy.")
    assert search('"detainer policy"').total == 2
    assert asked == ['"detainer policy"']


@pytest.mark.postgres  # SQLite keeps stop words: "the jail" is a phrase there
def test_a_phrase_of_one_word_and_stop_words_is_matched_as_that_word(common):
    detainer_documents()
    assert matched_by_postings('"the jail"') == matched_by_the_database("jail")
    assert len(matched_by_postings('"the jail" -"detainer was lodged"')[0]) == 1


def test_a_search_of_kept_words_does_not_ask_the_database_to_match_them(common, monkeypatch):
    detainer_documents()
    first = ranked("detainer -roads")
    assert {title for title, _score in first} == {
        "Detainer memo",
        "Jail report",
        "Budget detainer line",
    }

    def refuse(self, cursor, query, within=None, *, head=False):
        raise AssertionError(f"{query} matched by the database")

    monkeypatch.setattr(type(backend_for(connection)), "match_ids", refuse)
    assert ranked("detainer -roads") == first
    assert search("detainer", sort="date").total == 3


def test_words_kept_before_a_write_match_what_the_write_changed(common):
    detainer_documents()
    assert search("detainer").total == 3
    roads = Document.objects.get(title="Roads")
    roads.text = "A detainer after all."
    roads.save()
    assert search("detainer").total == 4
    Document.objects.filter(title="Jail report").delete()
    assert {hit.title for hit in search("detainer").hits} == {
        "Detainer memo",
        "Budget detainer line",
        "Roads",
    }


def test_scores_are_the_same_whether_matches_are_looked_up_or_scattered(common, monkeypatch):
    detainer_documents()
    doc("Detainer roads", "Jail money, a detainer.")
    monkeypatch.setattr(ranking, "SCATTER_RATIO", 0)  # every word's counts scattered
    scattered = ranked("jail OR roads")  # each match holds one of the words, not both
    ranking.clear()
    monkeypatch.setattr(ranking, "SCATTER_RATIO", 10**9)  # every match looked up
    assert ranked("jail OR roads") == scattered
    assert len(scattered) == 4 and all(score > 0 for _title, score in scattered)


def test_a_warmed_process_ranks_its_first_search_without_reading_postings(common, monkeypatch):
    from research.search.sync import search_warm

    detainer_documents()
    first = ranked("detainer")
    ranking.clear()  # a new gunicorn worker
    assert search_warm()["words"] == 1  # "detain", kept in the database by the search above

    def refuse(self, cursor, *args):
        raise AssertionError("postings read after the warm-up")

    backend_class = type(backend_for(connection))
    monkeypatch.setattr(backend_class, "postings", refuse)
    monkeypatch.setattr(backend_class, "shared_postings", refuse)
    assert ranked("detainer") == first


def test_a_worker_whose_warm_up_fails_still_starts_and_says_why(monkeypatch):
    import portal.gunicorn
    from research.search import sync

    def fail():
        raise ConnectionError("the database does not answer")

    class Log:
        def __init__(self):
            self.lines = []

        def exception(self, message):
            self.lines.append(message)

        def info(self, message, values):
            self.lines.append(message % values)

    worker = type("Worker", (), {"log": Log()})()
    monkeypatch.setattr(sync, "search_warm", fail)
    portal.gunicorn.post_worker_init(worker)
    assert worker.log.lines == ["Search arrays not read before the first request"]
