"""Writing notes: create, change, delete, flag and review, each checked once here.

Pages, the API and imports all write through these functions, so a forged
author, visibility or approval, someone else's note or a selection that is not
in the text is refused the same way everywhere, with :class:`AnnotationRefused`
naming the field and saying what is wrong. Nothing is written when a check fails.
"""

from __future__ import annotations

import bisect
import uuid as uuid_
from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from research import policy
from research.extract import text_sha256
from research.models import Annotation, AnnotationFlag, Document, Tag
from research.services import Refused

MAX_BODY_CHARS = 10_000
MAX_TAGS = 20
# A selection longer than this is not a passage: annotate the document's parts.
MAX_QUOTE_CHARS = 5_000
# W3C TextQuoteSelector context kept on each side, as Hypothesis keeps it.
CONTEXT_CHARS = 32
MAX_FLAG_REASON_CHARS = 500
# What a reader who sees someone else's note is told when they try to change it.
ONLY_THE_AUTHOR = "Only the note's author may change or delete it."


class AnnotationRefused(Refused):
    """A note, tag or flag that cannot be written; ``errors`` maps fields to sentences."""


# --- Selectors ----------------------------------------------------------------------


def quote_selector(text: str, start: int, end: int) -> dict:
    """The W3C TextQuoteSelector fields of ``text[start:end]``."""
    return {
        "exact": text[start:end],
        "prefix": text[max(0, start - CONTEXT_CHARS) : start],
        "suffix": text[end : end + CONTEXT_CHARS],
    }


def page_at(document: Document, offset: int) -> int | None:
    """The PDF page (1 for the first) on which character ``offset`` of the text lies."""
    offsets = document.page_offsets or []
    if not offsets:
        return None
    return max(1, bisect.bisect_right(offsets, offset))


def selection_errors(document: Document, start, end, exact: str | None = None) -> dict[str, str]:
    """What is wrong with annotating ``document.text[start:end]`` (empty when nothing is)."""
    text = document.text
    if not text:
        return {"selection": "This document has no text to annotate yet."}
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        return {"selection": "The selection's start and end must be whole numbers."}
    if not 0 <= start < end <= len(text):
        return {"selection": f"The selection must lie within the text (0 to {len(text)})."}
    if not text[start:end].strip():
        return {"selection": "The selection holds no words: select some text."}
    if end - start > MAX_QUOTE_CHARS or (start == 0 and end == len(text) and len(text) > 200):
        return {
            "selection": f"The selection is too long ({end - start:,} characters; at most "
            f"{MAX_QUOTE_CHARS:,}): annotate a passage, not the whole document."
        }
    if exact is not None and text[start:end] != exact:
        return {
            "selection": "The selected words are not at that place in the text (it may have "
            "been re-extracted since the page was loaded): reload the page and select again."
        }
    return {}


# --- Fields -------------------------------------------------------------------------


def _body_errors(body) -> dict[str, str]:
    if not isinstance(body, str):
        return {"body": "The note must be text."}
    if len(body) > MAX_BODY_CHARS:
        return {
            "body": f"The note is too long ({len(body):,} characters; at most {MAX_BODY_CHARS:,})."
        }
    if "\x00" in body:
        return {"body": "The note holds a NUL character."}
    return {}


def resolve_tags(names: Iterable[str]) -> list[Tag]:
    """The portal's tags named (by name or slug, any case); unknown names are refused."""
    names = [str(name).strip() for name in names if str(name).strip()]
    if len(names) > MAX_TAGS:
        raise AnnotationRefused({"tags": f"At most {MAX_TAGS} tags on one note."})
    if not names:
        return []
    lookup = Q()
    for name in names:
        lookup |= Q(name__iexact=name) | Q(slug__iexact=name)
    found = list(Tag.objects.filter(lookup))
    known = {t.name.casefold() for t in found} | {t.slug.casefold() for t in found}
    unknown = [name for name in names if name.casefold() not in known]
    if unknown:
        raise AnnotationRefused(
            {
                "tags": f"Unknown tag{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                "Notes take the portal's tags; a curator can add one."
            }
        )
    return found


def resolve_groups(user, names: Iterable) -> list[Group]:
    """The groups named (by name or id) that ``user`` may share a note with; others are refused."""
    names = [str(name).strip() for name in names if str(name).strip()]
    if not names:
        return []
    lookup = Q(name__in=names) | Q(pk__in=[int(n) for n in names if n.isdigit()])
    found = list(Group.objects.filter(lookup))
    known = {g.name for g in found} | {str(g.pk) for g in found}
    unknown = [name for name in names if name not in known]
    roles = [g.name for g in found if g.name in policy.ROLE_GROUPS]
    own = set(policy.shareable_groups(user).values_list("pk", flat=True))
    outside = [g.name for g in found if g.name not in roles and g.pk not in own]
    if roles:
        raise AnnotationRefused(
            {
                "groups": f"{', '.join(roles)} is a role, not a group to share with. "
                "To share with every researcher, choose “Researchers” as the visibility."
            }
        )
    if unknown or outside:
        raise AnnotationRefused(
            {
                "groups": f"You are not in {', '.join(unknown + outside)}. "
                "Share a note only with groups you belong to; a curator can add you to one."
            }
        )
    return found


def _group_visibility_errors(visibility, groups) -> dict[str, str]:
    if visibility == Annotation.Visibility.GROUPS and not groups:
        return {"groups": "Choose at least one group to share the note with."}
    return {}


def _choice_errors(field: str, value, choices) -> dict[str, str]:
    if value not in choices.values:
        return {field: f"“{value}” is not one of: {', '.join(choices.values)}."}
    return {}


# --- Writes ---------------------------------------------------------------------------


def annotate(
    document: Document,
    author,
    *,
    start: int,
    end: int,
    body: str = "",
    tags: Iterable[str] = (),
    groups: Iterable = (),
    visibility: str = Annotation.Visibility.PRIVATE,
    motivation: str = Annotation.Motivation.COMMENTING,
    exact: str | None = None,
    uuid: uuid_.UUID | None = None,
) -> Annotation:
    """A new note by ``author`` on ``document.text[start:end]``, waiting for review if public.

    ``uuid`` keeps the identifier of a note imported from elsewhere, so that
    importing it again finds it instead of writing it twice.
    """
    if not policy.can_annotate(author):
        raise AnnotationRefused("Your account may not write notes.")
    if not policy.can_view(author, document) or not policy.can_read_text(author, document):
        raise AnnotationRefused("You may not read this document's text, so you cannot annotate it.")
    errors = {
        **selection_errors(document, start, end, exact),
        **_body_errors(body),
        **_choice_errors("visibility", visibility, Annotation.Visibility),
        **_choice_errors("motivation", motivation, Annotation.Motivation),
    }
    if errors:
        raise AnnotationRefused(errors)
    found_tags = resolve_tags(tags)
    found_groups = resolve_groups(author, groups)
    if errors := _group_visibility_errors(visibility, found_groups):
        raise AnnotationRefused(errors)
    with transaction.atomic():
        annotation = Annotation.objects.create(
            document=document,
            author=author,
            body=body,
            visibility=visibility,
            motivation=motivation,
            start=start,
            end=end,
            page=page_at(document, start),
            text_sha256=document.text_sha256 or text_sha256(document.text),
            **quote_selector(document.text, start, end),
            **({"uuid": uuid} if uuid is not None else {}),
        )
        annotation.tags.set(found_tags)
        annotation.groups.set(found_groups)
    return annotation


def update_annotation(
    annotation: Annotation,
    user,
    *,
    body: str | None = None,
    tags: Iterable[str] | None = None,
    groups: Iterable | None = None,
    visibility: str | None = None,
    motivation: str | None = None,
) -> Annotation:
    """Its author changes a note; a changed public note goes back to the review queue."""
    if not policy.can_edit_annotation(user, annotation):
        raise AnnotationRefused("Only the note's author may change it.")
    errors = {}
    if body is not None:
        errors |= _body_errors(body)
    if visibility is not None:
        errors |= _choice_errors("visibility", visibility, Annotation.Visibility)
    if motivation is not None:
        errors |= _choice_errors("motivation", motivation, Annotation.Motivation)
    if errors:
        raise AnnotationRefused(errors)
    found_tags = resolve_tags(tags) if tags is not None else None
    found_groups = resolve_groups(user, groups) if groups is not None else None
    current_groups = set(annotation.groups.values_list("pk", flat=True))
    if errors := _group_visibility_errors(
        visibility if visibility is not None else annotation.visibility,
        found_groups if found_groups is not None else current_groups,
    ):
        raise AnnotationRefused(errors)
    changed = False
    for field, value in (("body", body), ("visibility", visibility), ("motivation", motivation)):
        if value is not None and getattr(annotation, field) != value:
            setattr(annotation, field, value)
            changed = True
    if found_tags is not None and {t.pk for t in found_tags} != set(
        annotation.tags.values_list("pk", flat=True)
    ):
        changed = True
    if found_groups is not None and {g.pk for g in found_groups} != current_groups:
        changed = True
    if not changed:
        return annotation
    if annotation.visibility == Annotation.Visibility.PUBLIC:
        # What a curator approved is not what is there now.
        annotation.review = Annotation.Review.PENDING
    with transaction.atomic():
        # Only what the author changes: a re-anchoring may have moved the note meanwhile.
        annotation.save(update_fields=["body", "visibility", "motivation", "review", "updated_at"])
        if found_tags is not None:
            annotation.tags.set(found_tags)
        if found_groups is not None:
            annotation.groups.set(found_groups)
    return annotation


def delete_annotation(annotation: Annotation, user) -> None:
    if not policy.can_edit_annotation(user, annotation):
        raise AnnotationRefused("Only the note's author may delete it.")
    annotation.delete()


def flag_annotation(annotation: Annotation, user, reason: str = "") -> AnnotationFlag:
    """``user`` asks a curator to look at a shared note; a public one leaves public view."""
    if not policy.can_flag_annotation(user, annotation):
        raise AnnotationRefused("You cannot flag this note.")
    if not isinstance(reason, str) or len(reason) > MAX_FLAG_REASON_CHARS or "\x00" in reason:
        raise AnnotationRefused(
            {"reason": f"Say why in at most {MAX_FLAG_REASON_CHARS} characters."}
        )
    with transaction.atomic():
        flag, created = AnnotationFlag.objects.get_or_create(
            annotation=annotation, user=user, defaults={"reason": reason}
        )
        if not created and not flag.resolved:
            raise AnnotationRefused(
                "You have already flagged this note; a curator will look at it."
            )
        if not created:
            flag.reason, flag.resolved = reason, False
            flag.save(update_fields=["reason", "resolved"])
        if annotation.visibility == Annotation.Visibility.PUBLIC:
            annotation.review = Annotation.Review.PENDING
            annotation.save(update_fields=["review", "updated_at"])
    return flag


def review_annotation(annotation: Annotation, curator, *, approve: bool) -> Annotation:
    """A curator approves or rejects a public note, settling the flags raised on it."""
    if not policy.can_moderate_annotations(curator):
        raise AnnotationRefused("Your account may not review notes.")
    if annotation.visibility == Annotation.Visibility.PRIVATE:
        raise AnnotationRefused("A private note is its author's alone; there is nothing to review.")
    with transaction.atomic():
        annotation.review = Annotation.Review.APPROVED if approve else Annotation.Review.REJECTED
        annotation.reviewed_by = curator
        annotation.reviewed_at = timezone.now()
        annotation.save(update_fields=["review", "reviewed_by", "reviewed_at", "updated_at"])
        annotation.flags.filter(resolved=False).update(resolved=True)
    return annotation
