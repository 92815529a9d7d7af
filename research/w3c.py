"""The one W3C Web Annotation representation of a note: the API, exports and imports use it.

``to_w3c`` writes a note as JSON-LD (https://www.w3.org/TR/annotation-model/);
``from_w3c`` and ``from_hypothesis`` read one back, or one of Hypothesis's
annotations (its API and export give the same objects), into :class:`NoteFields`,
refusing a wrong shape with :class:`W3CError`, whose ``errors`` name each field.

The target's ``source`` is the document's own address (its canonical URL) when it
has one, since that is the address Hypothesis and other tools annotate; the
selectors count characters of the text the portal extracted from it, so the
portal's page showing that text is the target's ``state.cached`` (a W3C TimeState:
"a copy of the source as it was annotated"). A document with no address of its
own (an uploaded file) has the portal's page as its source. Imports match either.
What the W3C model has no word for (visibility, review, anchoring) is a
``portal:`` term in a second context.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.urls import reverse

ANNO_CONTEXT = "http://www.w3.org/ns/anno.jsonld"
MEDIA_TYPE = "application/ld+json"
MARKDOWN = "text/markdown"
# RFC 3778, the PDF fragment identifiers: "page=3".
PDF_FRAGMENT = "http://tools.ietf.org/rfc/rfc3778"
VISIBILITIES = ("private", "researchers", "groups", "public")
MOTIVATIONS = ("commenting", "highlighting", "questioning", "tagging")


class W3CError(ValueError):
    """An annotation that cannot be read; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str] | str):
        self.errors = {"__all__": errors} if isinstance(errors, str) else dict(errors)
        super().__init__(" ".join(self.errors.values()))


@dataclass
class NoteFields:
    """What an imported annotation says, before it is matched to a document."""

    id: str = ""
    sources: list[str] = field(default_factory=list)
    exact: str = ""
    prefix: str = ""
    suffix: str = ""
    start: int | None = None
    end: int | None = None
    body: str = ""
    tags: list[str] = field(default_factory=list)
    motivation: str = "commenting"
    # None when the file does not say: the importer chooses.
    visibility: str | None = None
    # Names of the groups a note is shared with; kept only if the importer is in them.
    groups: list[str] = field(default_factory=list)


def portal_context(base_url: str) -> dict:
    return {"portal": f"{base_url}/api/schema/#"}


def note_url(annotation, base_url: str) -> str:
    return base_url + reverse("annotation-detail", kwargs={"uuid": annotation.uuid})


def document_page_url(document, base_url: str) -> str:
    return base_url + document.get_absolute_url()


# --- Writing ---------------------------------------------------------------------------


def to_w3c(annotation, base_url: str, *, quote: str | None = None) -> dict:
    """``annotation`` as a W3C Web Annotation; ``base_url`` is the portal's scheme and host.

    ``quote`` replaces the passage for a reader who may only see an excerpt of
    the document: its context (prefix and suffix) is then left out too.
    """
    document = annotation.document
    page = document_page_url(document, base_url)
    exact = annotation.exact if quote is None else quote
    text_quote = {"type": "TextQuoteSelector", "exact": exact}
    if exact == annotation.exact:
        text_quote |= {"prefix": annotation.prefix, "suffix": annotation.suffix}
    selectors = [
        text_quote,
        {"type": "TextPositionSelector", "start": annotation.start, "end": annotation.end},
    ]
    if annotation.page:
        selectors.append(
            {
                "type": "FragmentSelector",
                "conformsTo": PDF_FRAGMENT,
                "value": f"page={annotation.page}",
            }
        )
    target: dict = {"source": page, "selector": selectors}
    if document.canonical_url:
        target = {
            "source": document.canonical_url,
            "state": {"type": "TimeState", "cached": page},
            "selector": selectors,
        }
    body = []
    if annotation.body:
        body.append({"type": "TextualBody", "format": MARKDOWN, "value": annotation.body})
    body += [
        {"type": "TextualBody", "purpose": "tagging", "value": tag.name}
        for tag in annotation.tags.all()
    ]
    author = annotation.author
    creator = {"type": "Person", "nickname": author.get_username()}
    if author.get_full_name():
        creator["name"] = author.get_full_name()
    return {
        "@context": [ANNO_CONTEXT, portal_context(base_url)],
        "id": note_url(annotation, base_url),
        "type": "Annotation",
        "motivation": annotation.motivation,
        "created": annotation.created_at.isoformat(),
        "modified": annotation.updated_at.isoformat(),
        "creator": creator,
        "body": body,
        "target": target,
        "portal:visibility": annotation.visibility,
        "portal:groups": sorted(group.name for group in annotation.groups.all()),
        "portal:review": annotation.review,
        "portal:anchor": annotation.anchor,
        "portal:document": document.pk,
    }


def to_collection(items: list[dict], collection_id: str, label: str, base_url: str) -> dict:
    """A W3C AnnotationCollection holding ``items`` in one page."""
    return {
        "@context": [ANNO_CONTEXT, portal_context(base_url)],
        "id": collection_id,
        "type": "AnnotationCollection",
        "label": label,
        "total": len(items),
        "first": {"type": "AnnotationPage", "startIndex": 0, "items": items},
    }


# --- Reading ---------------------------------------------------------------------------


def identifier_uuid(identifier: str) -> uuid.UUID | None:
    """The portal identifier an annotation's ``id`` carries (the last part of its URL,
    or an ``urn:uuid:``), or None."""
    tail = identifier.rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:uuid:")
    try:
        return uuid.UUID(tail)
    except ValueError:
        return None


def _types(value) -> list:
    return value if isinstance(value, list) else [value]


def _text(value, field_name: str, errors: dict, *, limit: int = 100_000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field_name] = f"“{field_name}” must be text."
        return ""
    if len(value) > limit:
        errors[field_name] = f"“{field_name}” is too long (at most {limit:,} characters)."
        return ""
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate: JSON allows it, databases do not
        errors[field_name] = f"“{field_name}” holds characters that are not text."
        return ""
    if "\x00" in value:
        errors[field_name] = f"“{field_name}” holds a NUL character."
        return ""
    return value


def _address(value, errors: dict) -> str:
    return _text(value, "source", errors, limit=2000) if isinstance(value, str) else ""


def _position(value, field_name: str, errors: dict) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors[field_name] = f"“{field_name}” must be a whole number, 0 or more."
        return None
    return value


def _read_selectors(selectors, fields: NoteFields, errors: dict) -> None:
    """The quote and position among ``selectors`` (others, and unknown kinds, are skipped)."""
    for selector in _types(selectors):
        if not isinstance(selector, dict):
            errors["selector"] = "Each selector must be an object with a “type”."
            return
        kind = selector.get("type")
        if kind == "TextQuoteSelector" and not fields.exact:
            fields.exact = _text(selector.get("exact"), "exact", errors)
            fields.prefix = _text(selector.get("prefix"), "prefix", errors)[-64:]
            fields.suffix = _text(selector.get("suffix"), "suffix", errors)[:64]
        elif kind == "TextPositionSelector" and fields.start is None:
            fields.start = _position(selector.get("start"), "start", errors)
            fields.end = _position(selector.get("end"), "end", errors)
        elif kind == "RangeSelector":
            # Hypothesis's RangeSelector points into a web page's markup: the
            # quote says more about the portal's text than XPaths do.
            continue
    if not fields.exact and "exact" not in errors:
        errors["selector"] = (
            "The target has no TextQuoteSelector: the portal keeps notes on a quoted passage."
        )


def _read_target(target, fields: NoteFields, errors: dict) -> None:
    targets = _types(target)
    if not targets or not all(isinstance(t, dict | str) for t in targets):
        errors["target"] = "The target must be an object with a “source” and a “selector”."
        return
    for one in targets:
        if isinstance(one, str):
            if source := _address(one, errors):
                fields.sources.append(source)
            continue
        state = one.get("state") if isinstance(one.get("state"), dict) else {}
        for source in (one.get("source"), state.get("cached")):
            if source := _address(source, errors):
                fields.sources.append(source)
        if not fields.exact and one.get("selector") is not None:
            _read_selectors(one["selector"], fields, errors)
    if not fields.sources:
        errors["target"] = "The target names no document: give its “source” address."
    elif not fields.exact and not errors:
        errors["selector"] = (
            "The target has no TextQuoteSelector: the portal keeps notes on a quoted passage."
        )


def from_w3c(data) -> NoteFields:
    """The fields of one W3C Web Annotation; raises :class:`W3CError` saying what is wrong.

    The creator, dates, review and anchoring are not read: an import belongs to
    whoever imports it, and the portal decides the rest.
    """
    if not isinstance(data, dict):
        raise W3CError("An annotation must be a JSON object.")
    if "Annotation" not in _types(data.get("type")):
        raise W3CError("This is not a W3C annotation: its “type” must be “Annotation”.")
    errors: dict[str, str] = {}
    fields = NoteFields(id=_text(data.get("id"), "id", errors, limit=2000))
    motivation = data.get("motivation", "commenting")
    motivation = motivation[0] if isinstance(motivation, list) and motivation else motivation
    if motivation not in MOTIVATIONS:
        errors["motivation"] = f"“{motivation}” is not one of: {', '.join(MOTIVATIONS)}."
    else:
        fields.motivation = motivation
    visibility = data.get("portal:visibility")
    if visibility is not None and visibility not in VISIBILITIES:
        errors["visibility"] = f"“{visibility}” is not one of: {', '.join(VISIBILITIES)}."
    fields.visibility = visibility
    groups = data.get("portal:groups", [])
    if not isinstance(groups, list) or not all(isinstance(name, str) for name in groups):
        errors["groups"] = "“portal:groups” must be a list of group names."
    else:
        fields.groups = [_text(name, "groups", errors, limit=150) for name in groups]
    bodies = data.get("body", [])
    for body in _types(bodies):
        if isinstance(body, str):  # a bare string body is an IRI, which holds no words
            continue
        if not isinstance(body, dict):
            errors["body"] = "Each body must be an object (a TextualBody)."
            break
        tagging = body.get("purpose") == "tagging"
        value = _text(body.get("value"), "tags" if tagging else "body", errors)
        if tagging:
            fields.tags.append(value)
        elif value:
            fields.body = f"{fields.body}\n\n{value}" if fields.body else value
    _read_target(data.get("target"), fields, errors)
    if errors:
        raise W3CError(errors)
    return fields


def from_hypothesis(data) -> NoteFields:
    """The fields of one annotation from Hypothesis's API or export.

    Its ``user``, ``group`` and ``permissions`` are not read: groups mean nothing
    here, so an imported note is private until its author shares it.
    """
    if not isinstance(data, dict):
        raise W3CError("A Hypothesis annotation must be a JSON object.")
    errors: dict[str, str] = {}
    fields = NoteFields(id=_text(str(data.get("id") or ""), "id", errors, limit=2000))
    fields.body = _text(data.get("text"), "text", errors)
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        errors["tags"] = "“tags” must be a list of words."
    else:
        fields.tags = [_text(tag, "tags", errors, limit=100) for tag in tags]
    if source := _address(data.get("uri"), errors):
        fields.sources.append(source)
    target = data.get("target")
    if not isinstance(target, list) or not target or not isinstance(target[0], dict):
        errors["target"] = "The annotation has no target."
    elif target[0].get("selector") is None:
        errors["selector"] = (
            "A page note or a reply has no quoted passage: the portal keeps notes on passages."
        )
    else:
        if source := _address(target[0].get("source"), errors):
            fields.sources.append(source)
        _read_selectors(target[0]["selector"], fields, errors)
    if not fields.sources:
        errors.setdefault("uri", "The annotation names no page: it has no “uri”.")
    if not fields.body and not fields.tags:
        fields.motivation = "highlighting"
    if errors:
        raise W3CError(errors)
    return fields
