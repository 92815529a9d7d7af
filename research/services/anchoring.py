"""Notes follow their passage: when a document's text changes, and onto a newer MOA.

:func:`reanchor_document` places again every note of a document that points into
an older text (after a re-extraction, an OCR or a corrected file), with the
matching of :mod:`research.textquote`: by position, by quote and context, or by
a close match. A note that cannot be placed is orphaned: its selectors stay as
they were (and so does the text they point into), so it is shown to its author
with its quote and tried again when the text next changes. A note placed on
changed words keeps the words it was made on in ``previous_exact``.

:func:`carry_annotations` copies a researcher's notes from an agreement's MOA to
a later MOA of the same agency (a renewal, an amendment) and places them there
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from research import policy, selectors
from research.extract import text_sha256
from research.models import Annotation, Document
from research.services.annotations import AnnotationRefused, page_at, quote_selector
from research.textquote import Match, Quote, Text

# What re-anchoring may change on a note; nothing else (body, review) is touched.
SELECTOR_FIELDS = ["start", "end", "exact", "prefix", "suffix", "page"]
PLACED_FIELDS = [*SELECTOR_FIELDS, "text_sha256", "anchor", "previous_exact"]
BATCH_SIZE = 500  # history rows per INSERT


@dataclass
class AnchorReport:
    """How many notes were placed on their passage, by a close match, or not at all."""

    anchored: list[int] = field(default_factory=list)
    fuzzy: list[int] = field(default_factory=list)
    orphaned: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # carry-over: already carried

    @property
    def placed(self) -> int:
        return len(self.anchored) + len(self.fuzzy)

    def count(self, anchor: str, pk: int) -> None:
        {
            Annotation.Anchor.ANCHORED: self.anchored,
            Annotation.Anchor.FUZZY: self.fuzzy,
            Annotation.Anchor.ORPHANED: self.orphaned,
        }[anchor].append(pk)

    def summary(self) -> str:
        total = self.placed + len(self.orphaned)
        parts = [f"{len(self.anchored)} on {'its' if total == 1 else 'their'} passage"]
        if self.fuzzy:
            parts.append(f"{len(self.fuzzy)} on changed wording (old and new wording are shown)")
        if self.orphaned:
            parts.append(f"{len(self.orphaned)} whose passage was not found (kept, with the quote)")
        return f"{total} note{'' if total == 1 else 's'} placed: " + ", ".join(parts) + "."


def quote_of(annotation: Annotation) -> Quote:
    """What ``annotation`` remembers of its passage, to find it again."""
    return Quote(
        exact=annotation.exact,
        prefix=annotation.prefix,
        suffix=annotation.suffix,
        start=annotation.start,
    )


def apply_match(annotation: Annotation, document: Document, match: Match | None, sha: str) -> bool:
    """Put ``annotation`` where ``match`` says on ``document``'s text; True if it changed.

    Sets the selectors, page, anchor and ``previous_exact`` in memory; the caller saves.
    """
    before = [getattr(annotation, name) for name in PLACED_FIELDS]
    if match is None:
        # Never lost: the old selectors stay, with the text they point into.
        annotation.anchor = Annotation.Anchor.ORPHANED
    else:
        # The words the note was first made on, through every change since.
        made_on = annotation.previous_exact or annotation.exact
        annotation.start, annotation.end = match.start, match.end
        for name, value in quote_selector(document.text, match.start, match.end).items():
            setattr(annotation, name, value)
        annotation.page = page_at(document, match.start)
        annotation.text_sha256 = sha
        annotation.previous_exact = made_on if made_on != annotation.exact else ""
        annotation.anchor = (
            Annotation.Anchor.FUZZY if match.method == "fuzzy" else Annotation.Anchor.ANCHORED
        )
    return before != [getattr(annotation, name) for name in PLACED_FIELDS]


def place_annotations(annotations: list[Annotation], document: Document) -> list[Annotation]:
    """Place ``annotations`` (of one old text) on ``document``'s text; the changed ones."""
    sha = _document_sha(document)
    matches = Text(document.text).place_all([quote_of(note) for note in annotations])
    return [
        note
        for note, match in zip(annotations, matches, strict=True)
        if apply_match(note, document, match, sha)
    ]


def _document_sha(document: Document) -> str:
    return document.text_sha256 or (text_sha256(document.text) if document.text else "")


def reanchor_document(document: Document) -> AnchorReport:
    """Place again every note of ``document`` made on another text than its current one,
    and every orphan.

    One transaction; the notes' history records the change. Safe to call when
    nothing changed: it then writes nothing.
    """
    sha = _document_sha(document)
    report = AnchorReport()
    with transaction.atomic():
        # Orphans too: their selectors may point into the very text now back.
        stale = ~Q(text_sha256=sha) | Q(anchor=Annotation.Anchor.ORPHANED)
        notes = list(document.annotations.filter(stale).select_for_update().order_by("pk"))
        if not notes:
            return report
        changed = place_annotations(notes, document)
        for note in notes:
            report.count(note.anchor, note.pk)
        _save_placed(changed)
    return report


def _save_placed(notes: list[Annotation]) -> None:
    """Write the new places, and one history row per note.

    One UPDATE per note: Django's ``bulk_update`` builds a CASE over the batch for
    each field, which took 2 to 7 s for 1,000 notes on SQLite against 0.3 s this way
    (BENCHMARKS.md, re-anchoring).
    """
    for note in notes:
        Annotation.objects.filter(pk=note.pk).update(
            **{name: getattr(note, name) for name in PLACED_FIELDS}
        )
    if notes:
        Annotation.history.bulk_history_create(
            notes,
            batch_size=BATCH_SIZE,
            default_change_reason="Placed again on the document's new text.",
        )


def carry_annotations(source: Document, target: Document, user) -> AnchorReport:
    """Copy ``user``'s notes on ``source`` onto ``target``, a later MOA of the same agency.

    Each copy keeps its body, tags, motivation and visibility and remembers the
    note it came from; a public one waits for a curator again (its passage is
    new). It is placed on the new text like a re-extracted note. A note carried
    before is not carried twice (``report.skipped``).
    """
    if not policy.can_annotate(user):
        raise AnnotationRefused("Your account may not write notes.")
    if not policy.can_read_text(user, target):
        raise AnnotationRefused(
            "You may not read the later version's text, so you cannot annotate it."
        )
    if target.pk not in {version.pk for version in selectors.later_versions(source, user)}:
        raise AnnotationRefused(
            {"target": "That document is not a later MOA of this agency: choose one listed."}
        )
    report = AnchorReport()
    with transaction.atomic():
        # Locks the target so that two submissions of the form cannot both carry.
        Document.objects.select_for_update().filter(pk=target.pk).first()
        done = set(
            Annotation.objects.filter(document=target, carried_from__document=source).values_list(
                "carried_from_id", flat=True
            )
        )
        copies = []
        for note in (
            source.annotations.filter(author=user).prefetch_related("tags", "groups").order_by("pk")
        ):
            if note.pk in done:
                report.skipped.append(note.pk)
            else:
                copies.append(_copy(note, target))
        place_annotations(copies, target)
        for copy in copies:
            copy.save()
            copy.tags.set(copy.carried_from.tags.all())
            copy.groups.set(copy.carried_from.groups.all())
            report.count(copy.anchor, copy.pk)
    return report


def _copy(note: Annotation, target: Document) -> Annotation:
    """An unsaved copy of ``note`` on ``target``, still pointing into the old text."""
    return Annotation(
        document=target,
        author=note.author,
        body=note.body,
        motivation=note.motivation,
        visibility=note.visibility,
        review=Annotation.Review.PENDING,
        exact=note.exact,
        prefix=note.prefix,
        suffix=note.suffix,
        start=note.start,
        end=note.end,
        page=note.page,
        text_sha256=note.text_sha256,
        anchor=note.anchor,
        previous_exact=note.previous_exact,
        carried_from=note,
    )
