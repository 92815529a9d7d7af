"""Importing notes: W3C Web Annotation JSON-LD (the portal's own exports) and Hypothesis's.

A file is read whole before anything is written. One that is not JSON, is too
big, too deep, holds too many annotations or is neither format is refused with
:class:`ExchangeRefused` and nothing is stored. In a well-formed file each
annotation is matched to a document by its addresses, placed on the document's
current text and written through :func:`research.services.annotations.annotate`
as a note of the importing user; those that cannot be (no such document, a quote
no longer in the text, an unknown tag) are listed in the :class:`ImportReport`
with the reason, and the others are imported, all in one transaction.

Importing the same file again writes nothing twice: a note keeps the identifier
its ``id`` carries, and an identifier that is someone else's note (or not a
portal one, as Hypothesis's are not) becomes one derived from the importer and
that ``id``. Exports are :func:`research.w3c.to_collection` of the notes a reader
may see (``research.selectors``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import Resolver404, resolve

from research import policy, selectors, textquote
from research.canonical import canonicalize_url
from research.models import Annotation, Document
from research.services.annotations import AnnotationRefused, annotate
from research.w3c import NoteFields, W3CError, from_hypothesis, from_w3c, identifier_uuid

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ANNOTATIONS = 5_000
# A W3C collection nests about eight levels deep, a Hypothesis export six.
MAX_JSON_DEPTH = 32


class ExchangeRefused(ValueError):
    """A file refused whole, with the sentence saying why."""


def _shown(value, limit: int = 300) -> str:
    """``value`` as a report may quote it: text, not too long, encodable."""
    text = str(value or "")
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.encode("utf-8", "replace").decode().replace("\x00", "")


@dataclass
class Refusal:
    item: int  # 1 for the file's first annotation
    id: str
    source: str
    reason: str

    def __post_init__(self):
        self.id, self.source = _shown(self.id), _shown(self.source)
        self.reason = _shown(self.reason, limit=2000)

    def as_dict(self) -> dict:
        return {"item": self.item, "id": self.id, "source": self.source, "reason": self.reason}


@dataclass
class ImportReport:
    imported: list[Annotation] = field(default_factory=list)
    # The ``id`` of each annotation already imported by an earlier run.
    already_imported: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.imported)} imported, {len(self.already_imported)} already here, "
            f"{len(self.refused)} refused."
        )


# --- Reading the file --------------------------------------------------------------------


def _too_deep(value) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = list(current.values())
        elif isinstance(current, list):
            children = current
        else:
            continue
        if children and depth >= MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _items_of(data) -> list:
    """The annotations a file holds: one, a list, a W3C collection or page, or a
    Hypothesis search answer (``rows``)."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise ExchangeRefused(
            "This file is neither W3C annotations (JSON-LD) nor a Hypothesis export."
        )
    kinds = data.get("type") if isinstance(data.get("type"), list) else [data.get("type")]
    if "AnnotationCollection" in kinds:
        items: list = []
        page = data.get("first")
        while isinstance(page, dict):
            items += page.get("items") if isinstance(page.get("items"), list) else []
            page = page.get("next")
        if isinstance(page, str):
            raise ExchangeRefused(
                "This collection's pages are only linked, not included: export it with its "
                "items in the file."
            )
        return items
    if "AnnotationPage" in kinds:
        return data.get("items") if isinstance(data.get("items"), list) else []
    if isinstance(data.get("rows"), list):
        return data["rows"]
    if "Annotation" in kinds or "uri" in data:
        return [data]
    raise ExchangeRefused("This file is neither W3C annotations (JSON-LD) nor a Hypothesis export.")


def annotations_parse(raw: bytes) -> list:
    """The annotations in ``raw``, a file's bytes; raises :class:`ExchangeRefused`."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ExchangeRefused(
            f"The file is too big ({len(raw):,} bytes; at most {MAX_IMPORT_BYTES:,}): "
            "split it into several."
        )
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ExchangeRefused(
            f"The file nests too deep (at most {MAX_JSON_DEPTH} levels)."
        ) from None
    except ValueError as exc:  # JSONDecodeError, and bytes that are not Unicode
        raise ExchangeRefused(f"The file is not valid JSON ({exc}).") from None
    if _too_deep(data):
        raise ExchangeRefused(f"The file nests too deep (at most {MAX_JSON_DEPTH} levels).")
    items = _items_of(data)
    if not items:
        raise ExchangeRefused("The file holds no annotations.")
    if len(items) > MAX_IMPORT_ANNOTATIONS:
        raise ExchangeRefused(
            f"The file holds {len(items):,} annotations; at most {MAX_IMPORT_ANNOTATIONS:,} "
            "are imported at once: split it into several."
        )
    return items


def note_fields(item) -> NoteFields:
    """One annotation of either format; raises :class:`W3CError`."""
    if isinstance(item, dict) and "type" not in item and ("uri" in item or "target" in item):
        return from_hypothesis(item)
    return from_w3c(item)


# --- Matching and placing ------------------------------------------------------------------


def _portal_page(url: str, base_url: str) -> int | None:
    """The document id in the address of one of the portal's own document pages."""
    parts = urlsplit(url)
    hosts = {urlsplit(base_url).netloc, urlsplit(settings.SITE_URL).netloc}
    if parts.netloc not in hosts:
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    return match.kwargs.get("pk") if match.view_name == "research:document-detail" else None


def document_at(user, urls: list[str], base_url: str) -> Document | None:
    """The document ``user`` may see at one of ``urls``: a portal page, an address it was
    found at, or its canonical URL. A duplicate gives way to its original."""
    visible = policy.visible_documents(user)
    for url in urls:
        pk = _portal_page(url, base_url)
        if pk is not None and (document := visible.filter(pk=pk).first()):
            return document
        for document in reversed(selectors.documents_at_url(url)):
            if policy.can_view(user, document):
                return document
        spellings = {url.strip(), canonicalize_url(url)}
        if document := visible.filter(canonical_url__in=spellings).order_by("pk").first():
            return document
    return None


def place_quote(text: str, note: NoteFields) -> tuple[int, int] | None:
    """Where ``note``'s quote lies in ``text``, or None: placed as re-anchoring places
    a note on changed text (research.textquote)."""
    quote = textquote.Quote(note.exact, note.prefix, note.suffix, note.start)
    found = textquote.place(text, quote)
    return None if found is None else (found.start, found.end)


def _identifier(user, note: NoteFields) -> tuple[uuid.UUID, bool]:
    """The portal identifier of ``note`` once imported by ``user`` (see the module), and
    whether a note already has it."""
    if not note.id:
        return uuid.uuid4(), False
    own = identifier_uuid(note.id)
    derived = uuid.uuid5(uuid.NAMESPACE_URL, f"{user.pk} {note.id}")
    taken = dict(
        Annotation.objects.filter(uuid__in=[own or derived, derived]).values_list(
            "uuid", "author_id"
        )
    )
    if own is not None and taken.get(own, user.pk) == user.pk:
        return own, own in taken
    return derived, derived in taken


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


# --- Importing -------------------------------------------------------------------------------


def annotations_import(*, user, raw: bytes, base_url: str) -> ImportReport:
    """Import the annotations in ``raw`` as ``user``'s notes (see the module)."""
    if not policy.can_annotate(user):
        raise ExchangeRefused("Your account may not write notes, so it cannot import them.")
    items = annotations_parse(raw)
    report = ImportReport()
    documents: dict[tuple[str, ...], Document | None] = {}
    with transaction.atomic():
        for number, item in enumerate(items, start=1):
            raw_id = item.get("id") if isinstance(item, dict) else None
            try:
                note = note_fields(item)
            except W3CError as exc:
                source = item.get("uri") if isinstance(item, dict) else ""
                report.refused.append(Refusal(number, raw_id, source, str(exc)))
                continue
            refusal = _import_one(user, note, base_url, documents, report)
            if refusal:
                source = note.sources[0] if note.sources else ""
                report.refused.append(Refusal(number, note.id, source, refusal))
    return report


def _import_one(user, note: NoteFields, base_url: str, documents: dict, report) -> str:
    """Import one note into ``report``, or say why it cannot be."""
    key = tuple(note.sources)
    if key not in documents:
        documents[key] = document_at(user, note.sources, base_url)
    document = documents[key]
    if document is None:
        return "No document in the portal is at this address, or you may not see it."
    identifier, known = _identifier(user, note)
    if known:
        report.already_imported.append(note.id)
        return ""
    placed = place_quote(document.text, note)
    if placed is None:
        return (
            f"The quoted passage “{_quote(note.exact)}” is not in the document's text, nor "
            "anything close enough to it: it was not placed."
        )
    try:
        # annotate() checks everything before it writes, so a refusal leaves nothing behind.
        annotation = annotate(
            document,
            user,
            start=placed[0],
            end=placed[1],
            body=note.body,
            tags=note.tags,
            groups=note.groups,
            visibility=note.visibility or Annotation.Visibility.PRIVATE,
            motivation=note.motivation,
            uuid=identifier,
        )
    except AnnotationRefused as exc:
        return str(exc)
    report.imported.append(annotation)
    return ""
