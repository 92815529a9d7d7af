"""Notes in search: which ones match, may be read and pass the filters, and their hits.

A note's words have their own side table (migration 0013_search_notes), so the
documents' and agencies' entries, their facet arrays and their cost stay as
they were: whether any note is indexed is read with the index's version
(``SearchBackend.search_state``), and without one nothing more is asked.
Who may read a note is research.policy's answer, asked at query time: its
audience (``annotation_audience``, as the note pages ask it) and its document's
visibility (``search_scope``, as for the documents' own hits); a note on a
document the user may not see never matches. Notes have no kind, state, model of agreement,
year or publisher: a filter on any of those leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from research.models import Annotation
from research.policy import annotation_audience, annotation_quote
from research.search.backends.base import SearchBackend, column, excerpt, lead, table
from research.search.query import Query

# Filters that a note can pass: the others name values only documents and agencies have.
NOTE_FILTERS = frozenset({"type", "tag"})
QUOTE_WORDS = 60  # a search result shows the start of a long quote
# Up to this many matched ids are sent to the visibility query; past it, the
# visible notes are read whole and intersected (one parameter per id).
MAX_ID_PARAMS = 500
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class NoteMatches:
    """The notes a search found that the user may read and the filters pass."""

    ids: np.ndarray  # note ids, newest first
    tag_counts: dict[int, int] = field(default_factory=dict)  # tag id -> notes

    @property
    def total(self) -> int:
        return len(self.ids)

    def days(self, count: int) -> list[int]:
        """The creation days (since 1970, as ``FacetIndex.days``) of the first ``count``."""
        # Read for a page's worth only: parsing every match's timestamp costs more.
        ids = self.ids[:count].tolist()
        created = dict(Annotation.objects.filter(pk__in=ids).values_list("pk", "created_at"))
        return [(created[pk].date() - _EPOCH).days for pk in ids]


@dataclass(frozen=True)
class NoteHit:
    """What a search result shows of a note; research/search/selectors.py makes the Hit."""

    id: int
    document_title: str
    url: str
    snippet: str  # marked (MARK_START / MARK_END), not yet escaped
    quote: str
    author: str
    tags: tuple[str, ...]
    date: date
    motivation: str
    motivation_label: str


def notes_allowed(filters: dict[str, list[str]]) -> bool:
    """Whether notes can pass these (normalized) filters."""
    if any(name not in NOTE_FILTERS for name in filters):
        return False
    return "type" not in filters or "note" in filters["type"]


def note_matches(
    cursor,
    backend: SearchBackend,
    query: Query,
    filters: dict[str, list[str]],
    user,
    documents_visible: Callable[[np.ndarray], np.ndarray],
    *,
    any_notes: bool,
) -> NoteMatches | None:
    """The notes ``user`` may read that match ``query`` and pass ``filters``; None
    when notes cannot be in the results (none at all, ``any_notes`` false as the
    search read it, or the filters rule them out).

    ``documents_visible`` tells (a mask) which of some document ids the user may see:
    the search's arrays answer that faster than the subquery of
    ``policy.visible_annotations``, from the same rule (``policy.search_scope``).
    """
    if not any_notes or not notes_allowed(filters):
        return None
    matches = backend.match_note_ids(cursor, query)
    found = matches is not None and not matches.excluded
    if found and not len(matches.ids):
        return None
    notes = Annotation.objects.filter(annotation_audience(user))
    if found and len(matches.ids) <= MAX_ID_PARAMS:
        notes = notes.filter(pk__in=matches.ids.tolist())
    if "tag" in filters:
        tagged = Annotation.tags.through.objects.filter(tag__slug__in=filters["tag"])
        notes = notes.filter(pk__in=tagged.values("annotation_id"))
    rows = list(notes.order_by("-created_at", "-pk").values_list("pk", "document_id"))
    pairs = np.array(rows, np.int64).reshape(-1, 2)
    ids = pairs[:, 0][documents_visible(pairs[:, 1])]
    if matches is not None:
        keep = np.isin(ids, matches.ids)
        ids = ids[~keep if matches.excluded else keep]
    if not len(ids):
        return None
    return NoteMatches(ids, _tag_counts(cursor, backend, ids))


def _tag_counts(cursor, backend: SearchBackend, note_ids: np.ndarray) -> dict[int, int]:
    """tag id -> how many of these notes carry it."""
    # Every link, read as two joined strings: cheaper than the ORM with an id list.
    links = Annotation.tags.through
    notes, tags = backend.read_columns(
        cursor, table(links), [(column(links, "annotation"), int), (column(links, "tag"), int)]
    )
    tags, counts = np.unique(tags[np.isin(notes, note_ids)], return_counts=True)
    return dict(zip(tags.tolist(), counts.tolist(), strict=True))


def note_hits(cursor, backend: SearchBackend, query: Query, note_ids: list[int], user) -> dict:
    """note id -> :class:`NoteHit`, for a page of notes already known to be visible."""
    if not note_ids:
        return {}
    # Marked as an entry's excerpt is (research/search/selectors.py).
    pattern = backend.word_pattern(cursor, query)
    notes = (
        Annotation.objects.filter(pk__in=note_ids)
        .select_related("document", "author")
        .prefetch_related("tags")
    )
    labels = dict(Annotation.Motivation.choices)
    hits = {}
    for note in notes:
        document = note.document
        author = note.author.get_full_name() or note.author.get_username()
        hits[note.pk] = NoteHit(
            id=note.pk,
            document_title=document.title or document.canonical_url or f"Document {document.pk}",
            url=note.get_absolute_url(),
            snippet=excerpt("", note.body, pattern),
            # What the policy lets this reader see of the passage, then its start.
            quote=lead(annotation_quote(user, note), QUOTE_WORDS),
            author=author,
            tags=tuple(sorted(tag.name for tag in note.tags.all())),
            date=note.created_at.date(),
            motivation=note.motivation,
            motivation_label=str(labels.get(note.motivation, note.motivation)),
        )
    return hits
