"""The search contract: the same behaviour on SQLite FTS5 and PostgreSQL full-text search.

Each test runs once per backend; a run exercises the backend of its database
(the SQLite run skips the PostgreSQL case and vice versa), and CI runs the
suite on both databases.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from pypdf import PdfReader

from research.models import Annotation, Document, Tag
from research.policy import EXCERPT_CHARS
from research.search import search
from research.search.sync import search_index_document, search_reindex
from research.services.annotations import annotate, delete_annotation, update_annotation
from tests.research.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def backend(request, db) -> str:
    """The backend under test: the one of this run's database."""
    if connection.vendor != request.param:
        pytest.skip(f"the {request.param} backend runs in the {request.param} test run")
    return request.param


def titles(results) -> list[str]:
    return [hit.title for hit in results.hits]


def doc(title: str, text: str = "", **kwargs) -> Document:
    # Public-domain text is searchable by everyone; what the public may search of a
    # copyrighted text is tests/research/test_policy.py's subject.
    kwargs.setdefault("rights", Document.Rights.PUBLIC_DOMAIN)
    return DocumentFactory(title=title, text=text or f"{title}.", **kwargs)


# --- Query syntax -------------------------------------------------------------------


def test_all_words_must_match(backend):
    doc("Deputies screen inmates at the jail")
    doc("Deputies patrol the highway")
    assert titles(search("deputies jail")) == ["Deputies screen inmates at the jail"]


def test_phrase_matches_words_in_that_order(backend):
    doc("Task force expands", "The Task Force Model lets officers act in the field.")
    doc("Model citizens", "A model of the task and the force behind it.")
    assert titles(search('"task force model"')) == ["Task force expands"]


def test_a_phrase_does_not_run_from_one_field_into_the_next(backend):
    doc("Sheriff rallies", "Detention costs rise.", summary="Reasonable people agree.")
    assert titles(search('"sheriff rallies"')) == ["Sheriff rallies"]
    assert titles(search('"rallies reasonable"')) == []
    assert titles(search('"agree detention"')) == []
    assert titles(search('"rallies reasonable" OR "costs rise"')) == ["Sheriff rallies"]


def test_or_matches_either_term(backend):
    doc("Jail screening begins")
    doc("Detention center opens")
    doc("Budget approved")
    assert sorted(titles(search("jail OR detention"))) == [
        "Detention center opens",
        "Jail screening begins",
    ]


def test_or_binds_tighter_than_and(backend):
    doc("Sheriff expands jail program")
    doc("Sheriff opens detention wing")
    doc("Mayor opens detention wing")
    results = search("sheriff jail OR detention")
    assert sorted(titles(results)) == [
        "Sheriff expands jail program",
        "Sheriff opens detention wing",
    ]


def test_exclusion_of_word_and_phrase(backend):
    doc("Warrant service officers trained", "Officers serve warrants in the jail.")
    doc("Task force raids", "The task force model was used in traffic stops.")
    doc("Quiet year", "Officers trained for the jail.")
    assert sorted(titles(search("officers -warrant"))) == ["Quiet year"]
    assert sorted(titles(search('trained -"task force"'))) == [
        "Quiet year",
        "Warrant service officers trained",
    ]
    assert "Task force raids" not in titles(search('-"task force model"'))


def test_stemming_finds_other_forms_of_a_word(backend):
    doc("Man detained after stop")
    doc("County honors detainers", "The county honored ICE detainers.")
    doc("Deputies detain suspects")
    doc("Unrelated budget story")
    for query in ("detain", "detained", "detainers"):
        assert sorted(titles(search(query))) == [
            "County honors detainers",
            "Deputies detain suspects",
            "Man detained after stop",
        ], query


# --- Ranking and snippets -----------------------------------------------------------


def test_title_match_ranks_above_body_match(backend):
    body = "The commission discussed the budget. " * 3 + "Fentanyl was mentioned once."
    doc("County budget hearing", body, published_on=dt.date(2025, 1, 2))
    doc("Fentanyl seizure at the border", "Deputies found drugs.", published_on=dt.date(2020, 1, 1))
    assert titles(search("fentanyl")) == ["Fentanyl seizure at the border", "County budget hearing"]


def test_summary_match_ranks_above_body_match(backend):
    doc("Meeting notes", "The word oversight appears here in the body only.")
    doc("Other notes", "Nothing of note.", summary="An oversight report about the jail.")
    assert titles(search("oversight")) == ["Other notes", "Meeting notes"]


def test_first_page_is_the_best_of_every_match_not_of_a_pool(backend):
    # One old memo is all about sheriffs and detainers but its title says neither;
    # over a thousand newer matches name both in their title only.
    memo = doc("Jail memo", "sheriff detainer " * 40, published_on=dt.date(2001, 1, 1))
    filler = " ".join(["the commission heard public comment on the county budget"] * 10)
    Document.objects.bulk_create(
        [
            Document(
                title=f"Sheriff detainer update {i:04d}",
                text=filler,
                status="published",
                rights="public_domain",
                published_on=dt.date(2024, 1, 1) + dt.timedelta(days=i % 300),
            )
            for i in range(1_050)
        ]
    )
    results = search("sheriff detainer")
    assert results.total == 1_051
    assert results.hits[0].id == memo.pk
    # Everything else scores alike: the newer (higher id) first, on every page.
    second = search("sheriff detainer", page=2)
    ids = [hit.id for hit in results.hits[1:] + second.hits]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 39


def test_equal_scores_come_in_one_order_across_pages(backend):
    made = [doc("Identical detainer memo", "Same words.") for _ in range(25)]
    pages = [search("detainer", page=n) for n in (1, 2)]
    assert [hit.id for p in pages for hit in p.hits] == sorted((d.pk for d in made), reverse=True)
    assert len({hit.score for p in pages for hit in p.hits}) == 1


def test_ranking_reads_no_text_the_reader_may_not_search(backend):
    deep = doc("Detainer memo", "detainer " * 50, rights=Document.Rights.COPYRIGHTED)
    plain = doc("Detainer memo", "Nothing else.", rights=Document.Rights.COPYRIGHTED)
    # The public searches a copyrighted text by its title and summary only: the
    # body's many matches must not lift it (equal scores: the newer first).
    public = search("detainer")
    assert [hit.id for hit in public.hits] == [plain.pk, deep.pk]
    assert public.hits[0].score == public.hits[1].score
    researcher = ResearcherFactory()
    assert [hit.id for hit in search("detainer", user=researcher).hits] == [deep.pk, plain.pk]


def test_snippet_highlights_matches_and_escapes_the_text(backend):
    doc(
        "Board meeting <b>minutes</b>",
        "Intro words. The <script>alert(1)</script> board voted to renew the 287(g) agreement "
        "with the sheriff after a long debate.",
    )
    hit = search("renew agreement").hits[0]
    assert "<mark>renew</mark>" in hit.snippet
    # The text's markup is escaped (FTS5) or dropped (ts_headline), never passed through.
    assert "<" not in re.sub(r"</?mark>", "", hit.snippet)
    assert "<b>" not in hit.title_html and "&lt;b&gt;" in hit.title_html


def test_snippet_is_a_short_excerpt_never_the_full_text(backend):
    words = [f"word{i}" for i in range(3000)]
    words[1500] = "sanctuary"
    doc("Long article", " ".join(words))
    hit = search("sanctuary").hits[0]
    assert "<mark>sanctuary</mark>" in hit.snippet
    assert len(hit.snippet) < 600
    assert "word10 " not in hit.snippet and "word2999" not in hit.snippet


def test_a_match_past_the_part_of_a_long_text_read_for_snippets_leaves_its_lead(backend):
    lead = "Opening words of the report."
    doc("Very long report", f"{lead} {'filler ' * 40_000}sanctuary", summary="")
    doc("Short report", "A short one. The sanctuary policy.", summary="")
    hits = {hit.title: hit for hit in search("sanctuary").hits}
    assert hits["Very long report"].snippet.startswith(lead)
    assert "<mark>" not in hits["Very long report"].snippet
    assert "<mark>sanctuary</mark> policy." in hits["Short report"].snippet


def test_real_moa_is_found_by_its_words(backend):
    text = "\n".join(
        page.extract_text() or ""
        for page in PdfReader(DATA / "287gJEM_PolkCoGa2020-07-02.pdf").pages
    )
    assert "Immigration" in text
    doc("Polk County MOA", text, kind=Document.Kind.MOA)
    doc("Unrelated", "Nothing here.")
    assert titles(search('"Immigration and Customs Enforcement"')) == ["Polk County MOA"]


# --- Facets, filters, sort, pagination -----------------------------------------------


@pytest.fixture
def corpus(backend):
    """Six documents about two agencies in two states, and the agencies themselves."""
    polk = AgencyFactory(name="Polk County Sheriff's Office", state="FL", county_name="Polk")
    harris = AgencyFactory(name="Harris County Sheriff's Office", state="TX", county_name="Harris")
    AgreementFactory(agency=polk, model="JEM")
    tfm = AgreementFactory(agency=harris, model="TFM")
    jail = TagFactory(name="Jail", slug="jail")
    docs = [
        doc("Polk sheriff jail agreement", kind="news", published_on=dt.date(2024, 5, 1)),
        doc("Polk sheriff renews", kind="news", published_on=dt.date(2025, 2, 1)),
        doc(
            "Harris sheriff task force",
            kind="news",
            published_on=dt.date(2025, 3, 1),
            publisher="Houston Paper",
        ),
        doc("Harris sheriff MOA", kind="moa", published_on=dt.date(2023, 7, 1), publisher="ICE"),
        doc(
            "Sheriff lawsuit filed",
            kind="court_filing",
            published_on=dt.date(2025, 6, 1),
            publisher="Court",
        ),
        doc("Budget vote", kind="news", published_on=dt.date(2025, 1, 1)),
    ]
    for d in docs[:2]:
        DocumentAgencyFactory(document=d, agency=polk, status="confirmed")
    for d in docs[2:4]:
        DocumentAgencyFactory(document=d, agency=harris, status="confirmed")
    DocumentAgreementFactory(document=docs[3], agreement=tfm)
    docs[0].tags.add(jail)
    docs[4].tags.add(jail)
    return {"docs": docs, "polk": polk, "harris": harris}


def facet(results, name) -> dict[str, int]:
    return {v.value: v.count for v in results.facets[name]}


def test_facet_counts_describe_the_results(corpus):
    results = search("sheriff")
    assert results.total == 7  # five documents and the two sheriff's offices
    assert facet(results, "type") == {"document": 5, "agency": 2}
    assert facet(results, "kind") == {"news": 3, "moa": 1, "court_filing": 1}
    assert facet(results, "state") == {"FL": 3, "TX": 3}
    assert facet(results, "model") == {"JEM": 3, "TFM": 3}
    assert facet(results, "year") == {"2023": 1, "2024": 1, "2025": 3}
    assert facet(results, "tag") == {"jail": 2}
    assert facet(results, "publisher") == {
        "Example News": 2,
        "Houston Paper": 1,
        "ICE": 1,
        "Court": 1,
    }


def test_facet_counts_follow_the_filters(corpus):
    results = search("sheriff", filters={"state": ["TX"]})
    assert sorted(titles(results)) == [
        "Harris County Sheriff's Office",
        "Harris sheriff MOA",
        "Harris sheriff task force",
    ]
    assert facet(results, "kind") == {"news": 1, "moa": 1}
    assert facet(results, "state") == {"TX": 3}
    assert [v.selected for v in results.facets["state"]] == [True]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": ["moa"]}, ["Harris sheriff MOA"]),
        ({"kind": ["moa", "court_filing"]}, ["Harris sheriff MOA", "Sheriff lawsuit filed"]),
        ({"type": ["agency"]}, ["Harris County Sheriff's Office", "Polk County Sheriff's Office"]),
        ({"year": ["2024"]}, ["Polk sheriff jail agreement"]),
        ({"tag": ["jail"]}, ["Polk sheriff jail agreement", "Sheriff lawsuit filed"]),
        ({"publisher": ["Houston Paper"]}, ["Harris sheriff task force"]),
        (
            {"model": ["JEM"]},
            ["Polk County Sheriff's Office", "Polk sheriff jail agreement", "Polk sheriff renews"],
        ),
        ({"state": ["FL"], "kind": ["news"], "year": ["2025"]}, ["Polk sheriff renews"]),
        ({"state": ["not a state"], "year": ["nineteen"], "bogus": ["x"]}, None),
    ],
)
def test_filters_narrow_the_results(corpus, filters, expected):
    results = search("sheriff", filters=filters)
    if expected is None:  # unreadable filters are ignored, not an error
        assert results.total == 7
    else:
        assert sorted(titles(results)) == expected


def test_empty_query_lists_everything_visible_newest_first(corpus):
    results = search("", filters={"type": ["document"]})
    assert results.total == 6
    assert titles(results)[:2] == ["Sheriff lawsuit filed", "Harris sheriff task force"]


def test_sort_by_date_puts_newest_first(corpus):
    results = search("sheriff", filters={"type": ["document"]}, sort="date")
    assert titles(results) == [
        "Sheriff lawsuit filed",
        "Harris sheriff task force",
        "Polk sheriff renews",
        "Polk sheriff jail agreement",
        "Harris sheriff MOA",
    ]


def test_pages_split_the_results_without_overlap(backend):
    for i in range(45):
        doc(f"Story {i} about the sheriff", published_on=dt.date(2020, 1, 1) + dt.timedelta(days=i))
    pages = [search("sheriff", sort="date", page=n) for n in (1, 2, 3)]
    assert [len(p.hits) for p in pages] == [20, 20, 5]
    assert pages[0].num_pages == 3 and pages[0].has_next and not pages[2].has_next
    seen = [hit.id for p in pages for hit in p.hits]
    assert len(set(seen)) == 45
    assert search("sheriff", page=4).hits == []
    assert search("sheriff", page="junk").page == 1


# --- Hostile input and visibility ------------------------------------------------------

HOSTILE = [
    '"',
    '"""',
    "-",
    "OR",
    "OR OR AND NOT",
    "- OR -",
    "*",
    "sheriff*",
    "^sheriff",
    "title:sheriff",
    "NEAR(sheriff jail)",
    "sheriff AND",
    "(sheriff",
    "sheriff)",
    "{sheriff}",
    "'; DROP TABLE research_document; --",
    "' OR 1=1 --",
    "sheriff' & !jail | <->",
    "\\x00\x00sheriff",
    "%s %(x)s {0}",
    "sheriff " * 2000,
    '"sheriff' + "x" * 5000,
    "şérïff 你好 مرحبا 🚓",
    "\u200b\u202e",
    ":-) ;-( <3",
    '-"task force',
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_fail(backend, query):
    story = doc("Sheriff jail story")
    annotate(story, ResearcherFactory(), start=0, end=7, body="Sheriff note.", visibility=PUBLIC)
    Annotation.objects.update(review=Annotation.Review.APPROVED)
    results = search(query)
    assert results.total >= 0
    assert Document.objects.count() == 1 and Annotation.objects.count() == 1


def test_unpublished_documents_are_hidden_from_the_public(backend):
    doc("Published sheriff story")
    doc("Queued sheriff story", status=Document.Status.QUEUED)
    doc("Rejected sheriff story", status=Document.Status.REJECTED)
    public = search("sheriff")
    assert titles(public) == ["Published sheriff story"]
    assert public.total == 1 and facet(public, "type") == {"document": 1}
    staff = search("sheriff", user=CuratorFactory())
    assert staff.total == 3


# --- The index stays in step ----------------------------------------------------------


def test_index_follows_every_kind_of_write(backend):
    document = doc("Original headline", "The body mentions a zeppelin.")
    assert titles(search("zeppelin")) == ["Original headline"]

    document.title = "Revised headline about a blimp"
    document.save()
    assert titles(search("blimp")) == ["Revised headline about a blimp"]

    Document.objects.filter(pk=document.pk).update(text="Now the body is about a dirigible.")
    assert titles(search("dirigible")) == ["Revised headline about a blimp"]
    assert search("zeppelin").total == 0

    Document.objects.filter(pk=document.pk).update(status=Document.Status.NEEDS_REVIEW)
    assert search("dirigible").total == 0
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PUBLISHED)
    assert search("dirigible").total == 1

    document.delete()
    assert search("dirigible").total == 0
    assert search("", filters={"type": ["document"]}).total == 0


def test_bulk_created_documents_are_indexed(backend):
    Document.objects.bulk_create(
        [
            Document(
                title=f"Bulk {i}", text="quarantine", status="published", rights="open_licence"
            )
            for i in range(3)
        ]
    )
    assert search("quarantine").total == 3


def test_agencies_are_found_by_name_alias_state_and_county(backend):
    agency = AgencyFactory(
        name="Brevard County Sheriff's Office", state="FL", county_name="Brevard"
    )
    AgencyAliasFactory(agency=agency, name="BCSO Titusville")
    doc("Unrelated", "Nothing.")
    for query in ("brevard", "titusville", "florida", '"brevard county"'):
        results = search(query)
        assert [(h.type, h.title) for h in results.hits] == [
            ("agency", "Brevard County Sheriff's Office")
        ], query
    assert results.hits[0].url.endswith(agency.slug + "/")


def test_agency_index_follows_renames_and_alias_changes(backend):
    agency = AgencyFactory(name="Alpha County Sheriff's Office", state="GA")
    alias = AgencyAliasFactory(agency=agency, name="Old Alpha Jail")
    agency.name = "Omega County Sheriff's Office"
    agency.save()
    assert search("omega").total == 1 and search("alpha").total == 1  # alpha: the alias
    alias.delete()
    assert search("alpha").total == 0
    agency.delete()
    assert search("omega").total == 0


def test_reindex_rebuilds_a_damaged_index(backend):
    document = doc("Searchable sheriff story")
    AgencyFactory(name="Cobb County Sheriff's Office")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_entry")
    assert search("sheriff").total == 0
    assert search_reindex() == {"documents": 1, "agencies": 1}
    assert search("sheriff").total == 2
    search_index_document(document)
    assert search("sheriff").total == 2
    call_command("search_reindex", verbosity=0)
    assert search("sheriff").total == 2


def test_state_and_model_facets_follow_link_changes(backend):
    document = doc("Sheriff story")
    agency = AgencyFactory(name="Cobb County Sheriff's Office", state="GA")
    assert facet(search("story"), "state") == {}
    link = DocumentAgencyFactory(document=document, agency=agency, status="suggested")
    agreement = AgreementFactory(agency=agency, model="JEM")
    # The linker's suggestion is not the document's state until a curator confirms it,
    # as on the document and agency pages.
    assert facet(search("story"), "state") == {} and facet(search("story"), "model") == {}
    assert search("story", filters={"state": ["GA"]}).total == 0
    assert search("story").hits[0].states == ()
    link.status = "confirmed"
    link.save()
    assert facet(search("story"), "state") == {"GA": 1}
    assert search("story").hits[0].states == ("GA",)
    assert facet(search("story"), "model") == {"JEM": 1}
    agreement.model = "TFM"
    agreement.save()
    agency.state = "AL"
    agency.save()
    assert facet(search("story"), "model") == {"TFM": 1}
    assert facet(search("story"), "state") == {"AL": 1}
    link.status = "rejected"
    link.save()
    assert facet(search("story"), "state") == {} and facet(search("story"), "model") == {}


# --- Notes ------------------------------------------------------------------------------

PRIVATE, SHARED, PUBLIC = (
    Annotation.Visibility.PRIVATE,
    Annotation.Visibility.RESEARCHERS,
    Annotation.Visibility.PUBLIC,
)


def note(document: Document, author, body: str, *, tags=(), visibility=PUBLIC, approved=True):
    """A note on the document's first words, written through the service."""
    annotation = annotate(
        document,
        author,
        start=0,
        end=min(len(document.text), 40),
        body=body,
        tags=tags,
        visibility=visibility,
    )
    if approved and visibility == PUBLIC:
        Annotation.objects.filter(pk=annotation.pk).update(review=Annotation.Review.APPROVED)
    return annotation


def notes_of(results) -> list[int]:
    return [hit.id for hit in results.hits if hit.type == "note"]


@pytest.fixture
def writer(backend):
    return ResearcherFactory()


def test_note_bodies_are_found_with_the_query_syntax(writer):
    story = doc("Budget story", "The county approved a budget.")
    seen = note(story, writer, "The warden detained three people without a warrant.")
    other = note(story, writer, "A note about the weather.")
    for query in ("warden", "detain", "detainers", '"three people"', "warden OR weather"):
        assert seen.pk in notes_of(search(query)), query
    assert notes_of(search('"people three"')) == []
    assert sorted(notes_of(search("warden OR weather"))) == sorted([seen.pk, other.pk])
    assert notes_of(search("note -warden")) == [other.pk]
    hit = next(h for h in search("warden").hits if h.type == "note")
    assert "<mark>warden</mark>" in hit.snippet
    assert hit.url.endswith(f"#note-{seen.pk}") and hit.title == "Budget story"
    assert hit.author == (writer.get_full_name() or writer.get_username())


def test_note_tags_are_searched_filtered_and_counted(writer):
    TagFactory(name="Task force", slug="task-force")
    TagFactory(name="Jail", slug="jail")
    tagged_doc = doc("Sheriff story", "The sheriff spoke.")
    tagged_doc.tags.add(Tag.objects.get(slug="jail"))
    tagged = note(tagged_doc, writer, "Interesting remark by the sheriff.", tags=["task-force"])
    note(tagged_doc, writer, "Another sheriff remark.", tags=["jail"])
    assert notes_of(search('"task force"')) == [tagged.pk]
    results = search("sheriff")
    assert facet(results, "type") == {"document": 1, "note": 2}
    assert facet(results, "tag") == {"jail": 2, "task-force": 1}
    assert notes_of(search("sheriff", filters={"tag": ["task-force"]})) == [tagged.pk]
    only_notes = search("sheriff", filters={"type": ["note"]})
    assert only_notes.total == 2 and {h.type for h in only_notes.hits} == {"note"}
    assert facet(only_notes, "type") == {"note": 2}
    # Filters on what notes do not have (kind, state, year ...) leave them out.
    assert notes_of(search("sheriff", filters={"kind": ["news"]})) == []
    assert search("", filters={"tag": ["task-force"]}).total == 1
    # A renamed tag is found by its new name.
    Tag.objects.filter(slug="task-force").update(name="Strike team", slug="strike-team")
    assert notes_of(search('"strike team"')) == [tagged.pk]
    assert notes_of(search('"task force"')) == []


def test_who_finds_a_note(writer):
    story = doc("Council story", "The council met.")
    private = note(story, writer, "Private zeppelin thought.", visibility=PRIVATE)
    shared = note(story, writer, "Shared zeppelin thought.", visibility=SHARED)
    pending = note(story, writer, "Pending zeppelin thought.", approved=False)
    approved = note(story, writer, "Approved zeppelin thought.")
    colleague = ResearcherFactory()
    assert sorted(notes_of(search("zeppelin", user=writer))) == sorted(
        [private.pk, shared.pk, pending.pk, approved.pk]
    )
    assert sorted(notes_of(search("zeppelin", user=colleague))) == sorted(
        [shared.pk, pending.pk, approved.pk]
    )
    assert sorted(notes_of(search("zeppelin", user=CuratorFactory()))) == sorted(
        [shared.pk, pending.pk, approved.pk]
    )
    public = search("zeppelin")
    assert notes_of(public) == [approved.pk]
    assert public.total == 1 and facet(public, "type") == {"note": 1}
    assert search("private zeppelin").total == 0 and search("pending zeppelin").total == 0
    # A note on a document the reader may not see is not found either.
    Document.objects.filter(pk=story.pk).update(status=Document.Status.NEEDS_REVIEW)
    assert search("zeppelin").total == 0


def test_a_note_shared_with_groups_is_found_by_their_members_once(writer):
    story = doc("Council story", "The council met.")
    teams = [Group.objects.create(name="Team A"), Group.objects.create(name="Team B")]
    member = ResearcherFactory()
    writer.groups.add(*teams)
    member.groups.add(*teams)
    annotation = annotate(
        story,
        writer,
        start=0,
        end=10,
        body="Team zeppelin thought.",
        visibility="groups",
        groups=["Team A", "Team B"],
    )
    for reader in (writer, member):
        results = search("zeppelin", user=reader)
        assert notes_of(results) == [annotation.pk] and results.total == 1
        assert facet(results, "type") == {"note": 1}
    assert search("zeppelin", user=ResearcherFactory()).total == 0
    assert search("zeppelin", user=CuratorFactory()).total == 0
    assert search("zeppelin").total == 0


def test_note_index_follows_edits_and_deletion(writer):
    story = doc("Harbor story", "The harbor opened.")
    annotation = note(story, writer, "About a dirigible.", visibility=SHARED)
    assert notes_of(search("dirigible", user=writer)) == [annotation.pk]
    update_annotation(annotation, writer, body="About a blimp.")
    assert notes_of(search("dirigible", user=writer)) == []
    assert notes_of(search("blimp", user=writer)) == [annotation.pk]
    Annotation.objects.filter(pk=annotation.pk).update(body="About an airship.")
    assert notes_of(search("airship", user=writer)) == [annotation.pk]
    annotation.refresh_from_db()
    delete_annotation(annotation, writer)
    assert search("airship", user=writer).total == 0
    assert search_reindex() == {"documents": 1, "agencies": 0}
    kept = note(story, writer, "Hovercraft.", visibility=SHARED)
    with connection.cursor() as cursor:  # a damaged index of notes
        if connection.vendor == "sqlite":
            cursor.execute("DELETE FROM search_note_fts")
        else:
            cursor.execute("DELETE FROM search_note")
    assert search("hovercraft", user=writer).total == 0
    search_reindex()
    assert notes_of(search("hovercraft", user=writer)) == [kept.pk]


def test_notes_and_documents_share_pages_and_orders(writer):
    for i in range(15):
        doc(f"Sheriff story {i}", published_on=dt.date(2020, 1, 1) + dt.timedelta(days=i))
    story = doc("Other story", published_on=dt.date(2019, 1, 1))
    for i in range(10):
        note(story, writer, f"The sheriff, remark {i}.")
    pages = [search("sheriff", page=n) for n in (1, 2)]
    assert pages[0].total == 25 and [len(p.hits) for p in pages] == [20, 5]
    assert len({(h.type, h.id) for p in pages for h in p.hits}) == 25
    by_date = [search("sheriff", sort="date", page=n) for n in (1, 2)]
    # Notes written today come before documents published in 2020.
    assert [h.type for h in by_date[0].hits[:10]] == ["note"] * 10
    assert len({(h.type, h.id) for p in by_date for h in p.hits}) == 25


def test_a_note_shows_no_more_of_a_copyrighted_passage_than_the_excerpt(writer):
    words = " ".join(f"word{i}" for i in range(400))
    story = doc("Copyrighted story", words, rights=Document.Rights.COPYRIGHTED)
    end = words.index(" word120")
    annotation = annotate(story, writer, start=0, end=end, body="A grebe.", visibility=PUBLIC)
    Annotation.objects.filter(pk=annotation.pk).update(review=Annotation.Review.APPROVED)
    public = next(h for h in search("grebe").hits if h.type == "note")
    assert len(public.quote) <= EXCERPT_CHARS + 1 and public.quote.startswith("word0 ")
    assert "word100" not in public.quote and "word100" not in public.snippet
    reader = next(h for h in search("grebe", user=ResearcherFactory()).hits if h.type == "note")
    assert "word50" in reader.quote
