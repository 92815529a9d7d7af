"""Writing notes from the document page: create, change, delete and flag.

Thin: each view reads a form, calls one function of
``research.services.annotations`` and shows its refusal on the form (400) or
goes back to the note on the document page. Who may do what is
``research.policy``; a note the reader may not see is not found (404), one
they see but may not change is refused with a sentence (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from research import policy, selectors
from research.forms import AnnotationChangeForm, AnnotationForm, FlagForm, show_refusal
from research.models import Annotation, Document
from research.services.annotations import (
    ONLY_THE_AUTHOR,
    AnnotationRefused,
    annotate,
    delete_annotation,
    flag_annotation,
    update_annotation,
)
from research.views import DOCUMENT_TEMPLATE, NOT_FOUND, document_context

NOTE_NOT_FOUND = "No note you may see at this address."


def refused(request: HttpRequest, sentence: str) -> HttpResponse:
    return render(request, "research/annotation_refused.html", {"sentence": sentence}, status=403)


def _visible_note(request: HttpRequest, pk: int) -> Annotation:
    note = (
        policy.visible_annotations(request.user)
        .select_related("document", "author")
        .filter(pk=pk)
        .first()
    )
    if note is None:
        raise Http404(NOTE_NOT_FOUND)
    return note


@require_POST
@login_required
def annotation_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A new note on the passage selected (or quoted) on the document page."""
    try:
        document = selectors.document_page(request.user, pk)
    except Document.DoesNotExist as exc:
        raise Http404(NOT_FOUND) from exc
    if not policy.can_annotate(request.user):
        return refused(request, "Your account may not write notes; researchers and curators can.")
    if not policy.can_read_text(request.user, document):
        return refused(request, "You may not read this document's text, so you cannot annotate it.")
    form = AnnotationForm(request.POST, document=document, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            note = annotate(
                document,
                request.user,
                start=data["start"],
                end=data["end"],
                exact=data["exact"],
                body=data["body"],
                tags=data["tags"],
                groups=data.get("groups", []),
                visibility=data["visibility"],
            )
        except AnnotationRefused as refusal:
            show_refusal(form, refusal)
        else:
            return redirect(note.get_absolute_url())
    context = document_context(request, document, note_form=form)
    return render(request, DOCUMENT_TEMPLATE, context, status=400)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def annotation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Its author changes a note's words, tags or audience."""
    note = _visible_note(request, pk)
    if not policy.can_edit_annotation(request.user, note):
        return refused(request, ONLY_THE_AUTHOR)
    if request.method != "POST":
        form = AnnotationChangeForm(
            initial={
                "body": note.body,
                "tags": [tag.slug for tag in note.tags.all()],
                "visibility": note.visibility,
                "groups": [str(pk) for pk in note.groups.values_list("pk", flat=True)],
            },
            user=request.user,
        )
        return render(request, "research/annotation_edit.html", {"note": note, "form": form})
    form = AnnotationChangeForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            update_annotation(
                note,
                request.user,
                body=data["body"],
                tags=data["tags"],
                # Without the boxes (the author is in no group now) the note keeps its groups.
                groups=data["groups"] if "groups" in form.fields else None,
                visibility=data["visibility"],
            )
        except AnnotationRefused as refusal:
            show_refusal(form, refusal)
        else:
            return redirect(note.get_absolute_url())
    return render(
        request, "research/annotation_edit.html", {"note": note, "form": form}, status=400
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def annotation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Its author deletes a note, after saying so on a confirmation page."""
    note = _visible_note(request, pk)
    if not policy.can_edit_annotation(request.user, note):
        return refused(request, ONLY_THE_AUTHOR)
    template = "research/annotation_delete.html"
    if request.method != "POST":
        return render(request, template, {"note": note})
    if request.POST.get("confirm") != "delete":
        context = {"note": note, "error": "Press “Delete this note” to confirm."}
        return render(request, template, context, status=400)
    try:
        delete_annotation(note, request.user)
    except AnnotationRefused as refusal:
        return refused(request, str(refusal))
    messages.success(request, "Your note was deleted.")
    return redirect(f"{note.document.get_absolute_url()}#notes")


@require_POST
@login_required
def annotation_flag(request: HttpRequest, pk: int) -> HttpResponse:
    """Someone signed in asks a curator to look at a shared note."""
    note = _visible_note(request, pk)
    if not policy.can_flag_annotation(request.user, note):
        return refused(request, "You cannot flag your own note or a private one.")
    form = FlagForm(request.POST)
    try:
        if not form.is_valid():
            raise AnnotationRefused(" ".join(form.errors["reason"]))
        flag_annotation(note, request.user, form.cleaned_data["reason"])
    except AnnotationRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Thank you: a curator will look at this note.")
    return redirect(f"{note.document.get_absolute_url()}#annotation-{note.pk}")
