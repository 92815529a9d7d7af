"""search(): the one read that the search page, the API and exports share."""

# SQL here is assembled from constants and integer ids only; every user value is
# a bound parameter, and search terms reach FTS5/tsquery quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np
import us
from django.db import connection, transaction
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from agreements.models import Agency, AgencyAlias, AgencyKind, Agreement, SupportModel
from research.models import Document, DocumentAgency
from research.policy import (
    EXCERPT_CHARS,
    SearchScope,
    own_unpublished_query,
    public_excerpt,
    search_scope,
)
from research.search import ranking
from research.search.backends import backend_for
from research.search.backends.base import (
    HEADLINE_CHARS,
    LEAD_CHARS,
    MARK_END,
    MARK_START,
    SearchBackend,
    SearchState,
    column,
    excerpt,
    mark,
    match_pattern,
    table,
)
from research.search.facets import FacetIndex, facet_index
from research.search.notes import NoteMatches, note_hits, note_matches
from research.search.query import Query, parse_query

PAGE_SIZE = 20
MAX_PAGE = 500  # deeper pages are refused: nobody reads them, crawlers would.
SORTS = ("relevance", "date")
FACETS = ("type", "kind", "state", "model", "year", "tag", "publisher")
MAX_FILTER_VALUES = 20

TYPE_LABELS = {"document": "Documents", "agency": "Agencies", "note": "Notes"}
_STATE_CODES = frozenset(s.abbr for s in [*us.states.STATES_AND_TERRITORIES, us.states.DC])
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
_MARKED = re.compile(f"{MARK_START}(.*?){MARK_END}", re.S)


@dataclass(frozen=True)
class Hit:
    """One search result: a document, an agency or a note on a document."""

    type: str
    id: int
    title: str
    title_html: SafeString
    url: str
    snippet: SafeString
    date: date | None
    kind: str
    kind_label: str
    publisher: str = ""
    states: tuple[str, ...] = ()
    score: float = 0.0
    agreements: int | None = None  # an agency's, to show; None for a document
    # A note's: the passage it is on (as much as the reader may see), author, tags.
    quote: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool = False


@dataclass
class SearchResults:
    raw_query: str
    query: Query
    hits: list[Hit]
    total: int
    facets: dict[str, list[FacetValue]]
    filters: dict[str, list[str]]
    sort: str
    page: int
    page_size: int = PAGE_SIZE
    notes: list[str] = field(default_factory=list)

    @property
    def num_pages(self) -> int:
        return min(MAX_PAGE, max(1, math.ceil(self.total / self.page_size)))

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def start_index(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.hits else 0

    @property
    def end_index(self) -> int:
        return (self.page - 1) * self.page_size + len(self.hits)


# --- Input ----------------------------------------------------------------------


def _valid(name: str, value: str) -> str | None:
    """The normalized filter value, or None when it cannot be one."""
    value = value.strip()
    if not value or len(value) > 255:
        return None
    if name == "type":
        return value if value in TYPE_LABELS else None
    if name == "kind":
        return value if value in Document.Kind.values else None
    if name == "state":
        return value.upper() if value.upper() in _STATE_CODES else None
    if name == "model":
        return value.upper() if value.upper() in SupportModel.values else None
    if name == "year":
        return value if re.fullmatch(r"(19|20|21)\d\d", value) else None
    if name == "tag":
        return value if _SLUG.match(value) else None
    return value  # publisher: any short text, bound as a parameter


def normalize_filters(raw: Mapping | None) -> dict[str, list[str]]:
    """Keep the known facets and their well-formed values; drop everything else."""
    result: dict[str, list[str]] = {}
    if not raw:
        return result
    for name in FACETS:
        if hasattr(raw, "getlist"):
            values = raw.getlist(name)
        else:
            values = raw.get(name) or []
            values = [values] if isinstance(values, str | int) else list(values)
        clean: list[str] = []
        for value in values[:MAX_FILTER_VALUES]:
            value = _valid(name, str(value))
            if value is not None and value not in clean:
                clean.append(value)
        if clean:
            result[name] = clean
    return result


def normalize_page(raw: object) -> int:
    try:
        page = int(str(raw))
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


# --- Visibility -------------------------------------------------------------------


def _visible_rows(index: FacetIndex, scope: SearchScope) -> np.ndarray:
    """The index rows ``scope`` (research.policy) lets the user see, as a mask."""
    if scope.every_status:
        return np.ones(index.size, bool)
    visible = index.is_published | index.is_agency
    if scope.document_ids:
        own = np.array(sorted(scope.document_ids), np.int64) * 2
        visible |= index.mask_of(index.locate(own))
    return visible


def _rows_in(located: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``located`` rows, with -1 for those outside ``mask`` (as for unknown ids)."""
    inside = located >= 0
    inside[inside] = mask[located[inside]]
    return np.where(inside, located, -1)


def _ranked(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    parsed: Query,
    matched: list[tuple[np.ndarray, bool]],
    selected: np.ndarray,
    limit: int,
) -> list[tuple[int, float]]:
    """The best ``limit`` (entry id, score) of all the selected matches, best first.

    ``matched`` holds (index rows, head) parts: each is scored on the text it
    was matched on (research/search/ranking.py).
    """
    ids, scores = [np.zeros(0, np.int64)], [np.zeros(0)]
    for rows, head in matched:
        keep = rows >= 0
        keep[keep] = selected[rows[keep]]
        if keep.any():
            ids.append(index.ids[rows[keep]])
            scores.append(ranking.scores(cursor, backend, index, parsed, rows[keep], head=head))
    return ranking.top(np.concatenate(ids), np.concatenate(scores), limit)


# --- Searching ----------------------------------------------------------------------


def _match(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    parsed: Query,
    allowed: np.ndarray | None,
    *,
    head: bool = False,
    ranked: bool = False,
) -> tuple[np.ndarray, bool] | None:
    """(index rows, excluded) of the entries the words match, as ``Matches`` has them:
    from the words' postings where they answer (``ranking.match_rows``), else from
    the database; rows are -1 for entries written since the index was read.
    ``allowed``: the rows the filters allow (a mask), if they narrow."""
    found = ranking.match_rows(
        cursor, backend, index, parsed, allowed=allowed, head=head, read=ranked
    )
    if found is not None:
        return found
    within = index.ids[allowed] if allowed is not None else None
    matches = backend.match_ids(cursor, parsed, within=within, head=head)
    if matches is None:
        return None
    return index.locate(matches.ids), matches.excluded


def _words_mask(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    parsed: Query,
    selected: np.ndarray,
    scope: SearchScope,
    *,
    narrowed: bool,
    ranked: bool = False,
) -> tuple[np.ndarray, bool, list[tuple[np.ndarray, bool]]] | None:
    """(mask of the rows the words match, excluded, the parts to rank), or None
    without words. ``narrowed``: whether ``selected`` is narrower than visibility
    (filters, or the documents asked about), so the database may look among it only.

    Without the full text, copyrighted documents are matched (and ranked) on
    their title and summary only (``head``), so the counts agree with the hits.
    """
    allowed = selected if narrowed else None
    found = _match(cursor, backend, index, parsed, allowed, ranked=ranked)
    if found is None:
        return None
    rows, excluded = found
    hit = index.mask_of(rows)
    parts: list[tuple[np.ndarray, bool]] = []
    restricted = index.restricted_text if not scope.full_text else None
    if restricted is not None and (restricted & selected).any():
        head_rows, _ = _match(cursor, backend, index, parsed, allowed, head=True, ranked=ranked)
        hit = np.where(restricted, index.mask_of(head_rows), hit)
        parts.append((_rows_in(head_rows, restricted), True))
        rows = _rows_in(rows, ~restricted)
    parts.insert(0, (rows, False))
    return hit, excluded, parts


def _search(
    cursor,
    backend: SearchBackend,
    parsed: Query,
    clean: dict,
    state: SearchState,
    scope: SearchScope,
    user,
    *,
    sort: str,
    page: int,
    page_size: int,
) -> tuple[int, dict, list]:
    """(total, facet counts, page rows).

    The database only finds the entries the words match (where their postings
    do not already say); the visibility rule, filters, counts, relevance and
    date order come from the arrays. Notes are found, counted and ordered
    beside the entries (research/search/notes.py).
    """
    index = facet_index(connection, cursor, backend, state.token)
    visible = _visible_rows(index, scope)
    selected = index.filter_mask(clean, visible=visible)
    by_relevance = sort == "relevance" and parsed.has_positive
    words = _words_mask(
        cursor, backend, index, parsed, selected, scope, narrowed=bool(clean), ranked=by_relevance
    )
    if words is not None:
        hit, excluded, matched = words
        selected &= ~hit if excluded else hit
        by_relevance = by_relevance and not excluded
    else:
        by_relevance = False
    notes = note_matches(
        cursor,
        backend,
        parsed,
        clean,
        user,
        lambda documents: _rows_in(index.locate(documents * 2), visible) >= 0,
        any_notes=state.any_notes,
    )
    total, counts = index.counts(selected, notes.tag_counts if notes else None)
    entries = total
    if notes:
        total += notes.total
        counts["type"].append(("note", "", notes.total))
    offset = (page - 1) * page_size
    if not total or offset >= total:
        return total, counts, []
    limit = offset + page_size
    # With notes, the first ``limit`` entries are merged with theirs before the page is cut.
    start = 0 if notes else offset
    if by_relevance:
        ranked = (
            _ranked(cursor, backend, index, parsed, matched, selected, limit) if entries else []
        )
        page_ids = ranked[start:limit]
    else:
        page_ids = [(entry_id, 0.0) for entry_id in index.newest(selected, start, limit - start)]
    rows = [
        (entry_id, "agency" if entry_id % 2 else "document", entry_id // 2, score)
        for entry_id, score in page_ids
    ]
    if notes:
        rows = _with_notes(cursor, backend, parsed, index, rows, notes, by_relevance, limit)
        rows = rows[offset:limit]
    return total, counts, rows


def _with_notes(
    cursor,
    backend: SearchBackend,
    parsed: Query,
    index: FacetIndex,
    rows: list,
    notes: NoteMatches,
    by_relevance: bool,
    limit: int,
) -> list:
    """The first ``limit`` of the entry rows and the notes together, by score or by date."""
    if by_relevance:
        note_rows = [
            (None, "note", note_id, score)
            for note_id, score in backend.rank_notes(cursor, parsed, notes.ids)[:limit]
        ]
        # Scores from two tables (their own word statistics) do not compare: each is
        # scaled by its list's best, so the best note and the best entry rank together.
        # ``rows`` start at the best entry, so the scale is the same on every page.
        best = {
            kind: max(part[0][3], 1e-9) if part else 1.0
            for kind, part in (("entry", rows), ("note", note_rows))
        }
        merged = [(row[3] / best["entry"], row) for row in rows]
        merged += [(row[3] / best["note"], row) for row in note_rows]
        merged.sort(key=lambda pair: -pair[0])  # stable: entries first on a tie
        return [row for _score, row in merged[:limit]]
    located = index.locate(np.array([row[0] for row in rows], np.int64))
    keyed = [
        ((bool(index.undated[at]), -int(index.days[at])), row)
        for at, row in zip(located.tolist(), rows, strict=True)
    ]
    keyed += [
        ((False, -int(day)), (None, "note", int(note_id), 0.0))
        for note_id, day in zip(notes.ids[:limit].tolist(), notes.days(limit), strict=True)
    ]
    keyed.sort(key=lambda pair: pair[0])  # stable: each list keeps its own order
    return [row for _key, row in keyed[:limit]]


# --- Output -----------------------------------------------------------------------


def marked_html(text: str) -> SafeString:
    """Escape ``text`` and turn the backend's match markers into <mark> elements."""
    if MARK_START not in text:  # most titles, and a snippet without a match
        return mark_safe(html.escape(text.replace(MARK_END, ""), quote=True))  # noqa: S308
    # Adjacent matched words (a phrase) read better as one highlight.
    text = text.replace(f"{MARK_END} {MARK_START}", " ")
    escaped = html.escape(text, quote=True)
    escaped = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return mark_safe(escaped.replace(MARK_START, "").replace(MARK_END, ""))  # noqa: S308


def _unmarked(text: str) -> str:
    """``text`` without the backend's match markers."""
    if MARK_START in text:
        text = _MARKED.sub(r"\1", text)
    return text.replace(MARK_START, "").replace(MARK_END, "")


_URL_SENTINEL = "987654321"  # a valid pk and slug, replaced by the real one


@functools.lru_cache(maxsize=64)
def _url_template(name: str, key: str, prefix: str, language: str | None) -> str | None:
    """The URL of ``name`` with the sentinel for its one argument (reversing is slow)."""
    try:
        url = reverse(name, kwargs={key: _URL_SENTINEL})
    except NoReverseMatch:  # the page belongs to another part of the portal
        return None
    return url if url.count(_URL_SENTINEL) == 1 else None


def _urls(name: str, key: str, fallback: str) -> Callable[[object], str]:
    """value -> the URL of ``name`` whose argument ``key`` is value (``fallback``
    formatted with it if no such page): made once for a page of hits."""
    template = _url_template(name, key, get_script_prefix(), translation.get_language())
    if template is not None:
        return lambda value: template.replace(_URL_SENTINEL, str(value))

    def url(value) -> str:
        try:
            return reverse(name, kwargs={key: value})
        except NoReverseMatch:
            return fallback.format(value)

    return url


@functools.cache
def _labels(choices: str, language: str | None) -> dict[str, str]:
    """value -> label of a choices class, translated once per language."""
    cls = {"document": Document.Kind, "agency": AgencyKind, "model": SupportModel}[choices]
    return {value: str(label) for value, label in cls.choices}


def _label(choices: str, value: str) -> str:
    return _labels(choices, translation.get_language()).get(value, value)


def _state_label(code: str) -> str:
    state = us.states.lookup(code)
    return state.name if state else code


def _facet_label(name: str, value: str, label: str) -> str:
    if name == "type":
        return TYPE_LABELS.get(value, value)
    if name == "kind":
        return _label("document", value)
    if name == "state":
        return _state_label(value)
    if name == "model":
        return _label("model", value)
    return label or value


def _facets(counts: dict, filters: dict[str, list[str]]) -> dict[str, list[FacetValue]]:
    facets: dict[str, list[FacetValue]] = {}
    for name in FACETS:
        selected = filters.get(name, [])
        rows = counts[name]
        if name == "year":
            rows = sorted(rows, key=lambda r: r[0], reverse=True)
        elif name not in {"publisher", "tag"}:
            rows = sorted(rows, key=lambda r: (-r[2], r[0]))
        values = [FacetValue(v, _facet_label(name, v, lab), n, v in selected) for v, lab, n in rows]
        shown = {v.value for v in values}
        values += [
            FacetValue(v, _facet_label(name, v, ""), 0, True) for v in selected if v not in shown
        ]
        facets[name] = values
    return facets


class _Doc(NamedTuple):
    pk: int
    title: str
    kind: str
    publisher: str
    published_on: date | None
    canonical_url: str
    rights: str


class _Agency(NamedTuple):
    pk: int
    name: str
    slug: str
    state: str
    kind: str


def _date(value) -> date | None:
    """A date column's value (SQLite returns text to a plain cursor)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _typed_pattern(query: Query):
    """What marks the query's words as typed (no stems) in a text, or None without words."""
    words = sorted({w.lower() for term in query.terms() for w in term.words})
    return match_pattern(words) if words else None


# Joins an agency's aliases in one column: a character no name holds.
_ALIAS_SEPARATOR = "\x1f"


def _also_known(name: str, aliases: str | None, pattern) -> str:
    """An agency's "Also listed as ...", where the words matched one of its ``aliases``
    (joined by ``_ALIAS_SEPARATOR``, oldest first)."""
    spellings = []
    for alias in aliases.split(_ALIAS_SEPARATOR) if aliases and pattern else ():
        if alias.casefold() != name.casefold() and pattern.search(alias) and len(spellings) < 3:
            spellings.append(f"“{mark(alias, pattern)}”")
    return "Also listed as " + ", ".join(spellings) if spellings else ""


def _hits(cursor, backend, query: Query, rows: list, scope: SearchScope, user) -> list[Hit]:
    notes = note_hits(cursor, backend, query, [row[2] for row in rows if row[1] == "note"], user)
    doc_ids = [int(row[2]) for row in rows if row[1] == "document"]
    agency_ids = [int(row[2]) for row in rows if row[1] == "agency"]
    # Titles are marked and excerpts cut here, for every database: ts_headline and
    # FTS5's snippet() parse the whole text of each hit, which cost more than the
    # rest of a page.
    pattern = backend.word_pattern(cursor, query) if doc_ids or agency_ids else None
    typed = _typed_pattern(query)  # the words as typed, not their stems
    # Plain SQL over at most a page of ids, a statement a type: the ORM's compiling
    # and model building cost more than these queries.
    documents: dict[int, _Doc] = {}
    agencies: dict[int, _Agency] = {}
    states: dict[int, set[str]] = {}
    agreement_counts: dict[int, int] = {}
    highlights: dict[int, tuple[str, str]] = {}  # entry id -> (title, excerpt), marked
    if doc_ids:
        fields = ", ".join(f"d.{column(Document, name)}" for name in _Doc._fields)
        link_document, link_agency = (
            column(DocumentAgency, "document"),
            column(DocumentAgency, "agency"),
        )
        states_of = backend.joined(f"a.{column(Agency, 'state')}", ",")
        # Enough of the text to find the first match in (else its lead, which
        # holds the public excerpt), and each document's states (of its
        # confirmed agencies) in the same statement. A text no longer in bytes
        # is read whole: cutting a stored (compressed) text costs PostgreSQL
        # more than sending it.
        chars = HEADLINE_CHARS if pattern else LEAD_CHARS
        body = f"d.{column(Document, 'text')}"
        among, ids = backend.among("d.id", doc_ids)
        cursor.execute(
            f"SELECT {fields}, (SELECT {states_of}"
            f" FROM {table(DocumentAgency)} da JOIN {table(Agency)} a ON a.id = da.{link_agency}"
            f" WHERE da.{link_document} = d.id AND da.{column(DocumentAgency, 'status')} = %s),"
            f" d.{column(Document, 'summary')}, CASE WHEN {backend.octets(body)} <= {chars}"
            f" THEN {body} ELSE substr({body}, 1, {chars}) END"
            f" FROM {table(Document)} d WHERE {among}",
            [DocumentAgency.Status.CONFIRMED, *ids],
        )
        for row in cursor.fetchall():
            doc = documents[row[0]] = _Doc(*row[:4], _date(row[4]), *row[5:7])
            states[row[0]] = set(row[7].split(",")) if row[7] else set()
            summary, text = row[8] or "", row[9] or ""
            if scope.may_quote_text(doc.rights):
                snippet = excerpt(summary, text, pattern)
            else:
                # Where the reader may not read the whole text, the snippet comes
                # from its public excerpt.
                public = public_excerpt(Document(summary=summary, text=text[: EXCERPT_CHARS * 2]))
                snippet = excerpt(public, "", typed)
            highlights[row[0] * 2] = (mark(doc.title or "", pattern), snippet)
    also_known: dict[int, str] = {}
    if agency_ids:
        fields = ", ".join(f"a.{column(Agency, name)}" for name in _Agency._fields)
        agency = column(Agreement, "agency")
        alias_agency, alias_name = column(AgencyAlias, "agency"), column(AgencyAlias, "name")
        aliases = backend.joined(f"al.{alias_name}", _ALIAS_SEPARATOR)
        # Each agency's number of agreements and aliases in the same statement.
        among, ids = backend.among("a.id", agency_ids)
        cursor.execute(
            f"SELECT {fields}, (SELECT count(*) FROM {table(Agreement)} g WHERE g.{agency} = a.id),"
            f" (SELECT {aliases} FROM (SELECT al.{alias_name} FROM {table(AgencyAlias)} al"
            f" WHERE al.{alias_agency} = a.id ORDER BY al.id) al)"
            f" FROM {table(Agency)} a WHERE {among}",
            ids,
        )
        for row in cursor.fetchall():
            agencies[row[0]] = _Agency(*row[:5])
            agreement_counts[row[0]] = row[5]
            also_known[row[0]] = _also_known(row[1], row[6], typed)
            # An agency's own words (its state, county and type) make no excerpt.
            highlights[row[0] * 2 + 1] = (mark(row[1] or "", pattern), "")
    language = translation.get_language()
    document_url = _urls("research:document-detail", "pk", "/documents/{}/")
    agency_url = _urls("agreements:agency-detail", "slug", "/agencies/{}/")
    kinds, agency_kinds = _labels("document", language), _labels("agency", language)
    hits = []
    for entry_id, entry_type, object_id, score in rows:
        title, snippet = highlights.get(entry_id, ("", ""))
        if entry_type == "document" and object_id in documents:
            doc = documents[object_id]
            title = title or doc.title or doc.canonical_url or f"Document {doc.pk}"
            hits.append(
                Hit(
                    type="document",
                    id=doc.pk,
                    title=_unmarked(title),
                    title_html=marked_html(title),
                    url=document_url(doc.pk),
                    snippet=marked_html(snippet),
                    date=doc.published_on,
                    kind=doc.kind,
                    kind_label=kinds.get(doc.kind, doc.kind),
                    publisher=doc.publisher,
                    states=tuple(sorted(states.get(doc.pk, ()))),
                    score=float(score or 0),
                )
            )
        elif entry_type == "agency" and object_id in agencies:
            agency = agencies[object_id]
            title = title or agency.name
            # The index's body (state, code, county, type) is there to be matched,
            # not read: the hit says where the agency is and what it signed instead.
            snippet = also_known.get(object_id, "")
            hits.append(
                Hit(
                    type="agency",
                    id=agency.pk,
                    title=_unmarked(title),
                    title_html=marked_html(title),
                    url=agency_url(agency.slug),
                    snippet=marked_html(snippet),
                    date=None,
                    kind=agency.kind,
                    kind_label=agency_kinds.get(agency.kind, agency.kind),
                    states=(agency.state,),
                    score=float(score or 0),
                    agreements=agreement_counts.get(object_id, 0),
                )
            )
        elif entry_type == "note" and object_id in notes:
            note = notes[object_id]
            hits.append(
                Hit(
                    type="note",
                    id=note.id,
                    title=note.document_title,
                    title_html=marked_html(note.document_title),
                    url=note.url,
                    snippet=marked_html(note.snippet),
                    date=note.date,
                    kind=note.motivation,
                    kind_label=note.motivation_label,
                    score=float(score or 0),
                    quote=note.quote,
                    author=note.author,
                    tags=note.tags,
                )
            )
    return hits


def search(
    query: str,
    *,
    filters: Mapping | None = None,
    sort: str = "relevance",
    page: int = 1,
    user=None,
    page_size: int = PAGE_SIZE,
) -> SearchResults:
    """Documents, agencies and notes matching ``query`` that ``user`` may see, with facets.

    Facet counts are computed over the filtered result set. Without search
    terms every visible entry that passes the filters matches, newest first;
    with neither terms nor filters nothing is searched.
    """
    raw = query if isinstance(query, str) else ""
    parsed = parse_query(raw)
    clean = normalize_filters(filters)
    sort = sort if sort in SORTS else "relevance"
    if not parsed.has_positive:
        sort = "date"  # nothing to rank by
    page = normalize_page(page)
    page_size = min(max(int(page_size), 1), 100)
    if not parsed and not clean:
        # Nothing asked yet: the page shows the form, not the whole database.
        return SearchResults(
            raw_query=raw,
            query=parsed,
            hits=[],
            total=0,
            facets={name: [] for name in FACETS},
            filters=clean,
            sort=sort,
            page=page,
            page_size=page_size,
        )
    backend = backend_for(connection)
    with connection.cursor() as cursor:
        state = backend.search_state(cursor, own_unpublished_query(user))
        scope = search_scope(user, state.own_unpublished)
        total, counts, rows = _search(
            cursor,
            backend,
            parsed,
            clean,
            state,
            scope,
            user,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        hits = _hits(cursor, backend, parsed, rows, scope, user)
    return SearchResults(
        raw_query=raw,
        query=parsed,
        hits=hits,
        total=total,
        facets=_facets(counts, clean),
        filters=clean,
        sort=sort,
        page=page,
        page_size=page_size,
    )


def _matching(cursor, backend, index, parsed: Query, clean: dict, scope, wanted) -> list[int]:
    selected = index.filter_mask(clean, visible=_visible_rows(index, scope))
    selected &= index.mask_of(index.locate(wanted))
    if selected.any() and parsed:
        words = _words_mask(cursor, backend, index, parsed, selected, scope, narrowed=True)
        if words is not None:
            hit, excluded, _parts = words
            selected &= ~hit if excluded else hit
    return sorted((index.ids[selected] // 2).tolist())


def matching_documents(asks: Iterable[tuple[str, Mapping, SearchScope, Iterable[int]]]) -> list:
    """For each (query, filters, scope, document ids): which of those documents the search finds.

    The same rules as :func:`search` (visibility, filters, words, the head-only
    match of copyrighted text), without ranking or pages, for many searches in
    one pass: saved-search alerts ask it about the documents published since
    they last looked. Identical asks are answered once.
    """
    backend = backend_for(connection)
    answers: list[list[int]] = []
    known: dict[tuple, list[int]] = {}
    # One transaction for the many matches the database may be asked (PostgreSQL's
    # settings for a match hold until its end), not one each.
    with transaction.atomic(), connection.cursor() as cursor:
        index = facet_index(connection, cursor, backend)
        for query, filters, scope, among in asks:
            parsed = parse_query(query if isinstance(query, str) else "")
            clean = normalize_filters(filters)
            ids = tuple(sorted(set(among)))
            key = (str(parsed), tuple(sorted((k, tuple(v)) for k, v in clean.items())), scope, ids)
            if key not in known:
                if not ids or (not parsed and not clean):
                    known[key] = []
                else:
                    wanted = np.array(ids, np.int64) * 2
                    known[key] = _matching(cursor, backend, index, parsed, clean, scope, wanted)
            answers.append(known[key])
    return answers
