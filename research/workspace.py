"""A researcher's own pages: collections, and submitting a document in the browser.

The dashboard that lists them is ``portal.dashboard`` (``/me/``). Who may read or
change a collection is ``research.policy``; the writes are
``research.services.collections`` and ``research.services.ingest``. Someone
else's collection by its id is a 404, like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agreements.models import Agency
from portal.exports import Column, export_links, export_response, requested_format
from research import policy, selectors
from research.forms import CollectionAddForm, CollectionForm, CollectionItemForm, SubmitForm
from research.models import Collection, CollectionItem, Document
from research.services.collections import (
    CollectionRefused,
    collection_create,
    collection_delete,
    collection_item_add,
    collection_item_move,
    collection_item_note,
    collection_item_remove,
    collection_update,
)
from research.services.ingest import DocumentNotVisible, IngestError, document_submit_as

NO_COLLECTION = "No collection of yours at this address."
MAY_NOT_COLLECT = "Your account may not keep collections; researchers and curators may."

ITEM_COLUMNS = [
    Column("position", "rank"),
    Column("kind", lambda item: "document" if item.document_id else "agency"),
    Column("title", lambda item: str(item.target)),
    Column("state", lambda item: item.agency.state if item.agency_id else ""),
    Column("published_on", lambda item: item.document.published_on if item.document_id else None),
    Column("url", lambda item: item.document.canonical_url if item.document_id else ""),
    Column("page_url", lambda item: item.target.get_absolute_url()),
    Column("note"),
    Column("added_at"),
]


def _ranked(items: Iterable[CollectionItem]) -> Iterator[CollectionItem]:
    """Each item with its place as its reader sees it (1, 2, 3...), not its stored position."""
    for rank, item in enumerate(items, 1):
        item.rank = rank
        yield item


def _owned(request: HttpRequest, pk: int) -> Collection:
    try:
        return selectors.collection_owned(request.user, pk)
    except Collection.DoesNotExist as exc:
        raise Http404(NO_COLLECTION) from exc


def _add_errors(form, refused: CollectionRefused) -> None:
    for field, message in refused.errors.items():
        form.add_error(None if field not in form.fields else field, message)


# --- Collections -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def collection_list(request: HttpRequest) -> HttpResponse:
    """Your collections and those shared with you; POST makes a new one."""
    may_collect = policy.can_keep_collections(request.user)
    form = CollectionForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if not may_collect:
            raise PermissionDenied(MAY_NOT_COLLECT)
        if form.is_valid():
            try:
                collection = collection_create(
                    owner=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    visibility=form.cleaned_data["visibility"],
                )
            except CollectionRefused as refused:
                _add_errors(form, refused)
            else:
                messages.success(request, f"Collection “{collection}” made.")
                return redirect("research:collection-manage", pk=collection.pk)
        status = 400
    return render(
        request,
        "research/collection_list.html",
        {
            "form": form,
            "may_collect": may_collect,
            "owned": selectors.collections_owned(request.user),
            "shared": selectors.collections_shared_with(request.user),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def collection_manage(request: HttpRequest, pk: int) -> HttpResponse:
    """Your collection's settings and items: rename, describe, share, reorder, note."""
    collection = _owned(request, pk)
    initial = {
        "title": collection.title,
        "description": collection.description,
        "visibility": collection.visibility,
        "shared_with": ", ".join(u.get_username() for u in collection.shared_with.all()),
    }
    form = CollectionForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                collection_update(user=request.user, collection=collection, **form.cleaned_data)
            except CollectionRefused as refused:
                _add_errors(form, refused)
            else:
                messages.success(request, "Collection saved.")
                return redirect("research:collection-manage", pk=collection.pk)
        status = 400
    return render(
        request,
        "research/collection_manage.html",
        {
            "collection": collection,
            "form": form,
            "items": selectors.collection_items(request.user, collection),
            "share_url": request.build_absolute_uri(collection.get_absolute_url()),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def collection_delete_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete your collection (its items go with it; documents stay)."""
    collection = _owned(request, pk)
    if request.method == "POST":
        try:
            collection_delete(user=request.user, collection=collection)
        except CollectionRefused as refused:
            raise PermissionDenied(" ".join(refused.errors.values())) from refused
        messages.success(request, f"Collection “{collection}” deleted.")
        return redirect("me")
    return render(request, "research/collection_delete.html", {"collection": collection})


@login_required
@require_POST
def collection_item(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    """Move an item up or down, change its note, or remove it."""
    collection = _owned(request, pk)
    try:
        item = CollectionItem.objects.select_related("collection").get(
            pk=item_pk, collection=collection
        )
    except CollectionItem.DoesNotExist as exc:
        raise Http404("No such item in this collection.") from exc
    form = CollectionItemForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Choose what to do with the item: move it, save its note or remove it."
        )
        return redirect("research:collection-manage", pk=collection.pk)
    action = form.cleaned_data["action"]
    try:
        if action == "remove":
            collection_item_remove(user=request.user, item=item)
            messages.success(request, f"“{item}” removed from the collection.")
            return redirect("research:collection-manage", pk=collection.pk)
        if action == "note":
            collection_item_note(user=request.user, item=item, note=form.cleaned_data["note"])
            messages.success(request, "Note saved.")
        else:
            collection_item_move(user=request.user, item=item, direction=action)
    except CollectionRefused as refused:
        messages.error(request, " ".join(refused.errors.values()))
    url = reverse("research:collection-manage", kwargs={"pk": collection.pk})
    return redirect(f"{url}#item-{item.pk}")


@login_required
@require_POST
def collection_add(request: HttpRequest) -> HttpResponse:
    """Add a document or an agency to one of your collections (or to a new one), then go back."""
    if not policy.can_keep_collections(request.user):
        raise PermissionDenied(MAY_NOT_COLLECT)
    form = CollectionAddForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("research:collection-list")
    if not form.is_valid():
        messages.error(request, " ".join(" ".join(errors) for errors in form.errors.values()))
        return redirect(back)
    data = form.cleaned_data
    document = agency = None
    if data["document"]:
        document = Document.objects.filter(pk=data["document"]).first()
        if document is None or not policy.can_view(request.user, document):
            raise Http404("No document you may see at this address.")
    else:
        agency = Agency.objects.filter(pk=data["agency"]).first()
        if agency is None:
            raise Http404("No agency at this address.")
    if data["collection"]:
        collection = _owned(request, data["collection"])
    else:
        try:
            collection = collection_create(owner=request.user, title=data["title"])
        except CollectionRefused as refused:
            messages.error(request, " ".join(refused.errors.values()))
            return redirect(back)
    try:
        collection_item_add(
            user=request.user,
            collection=collection,
            document=document,
            agency=agency,
            note=data["note"],
        )
    except CollectionRefused as refused:
        messages.error(request, " ".join(refused.errors.values()))
    else:
        messages.success(request, f"Added to “{collection}”.")
    return redirect(back)


@require_safe
def collection_detail(request: HttpRequest, key) -> HttpResponse:
    """A collection at its link, as far as the reader may see it; downloadable as CSV or JSON."""
    try:
        collection = selectors.collection_by_key(request.user, key)
    except Collection.DoesNotExist as exc:
        raise Http404("No collection you may see at this address.") from exc
    items = selectors.collection_items(request.user, collection)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=_ranked(items.iterator(chunk_size=500)),
            columns=ITEM_COLUMNS,
            filename=f"collection-{collection.title}",
            meta={
                "collection": collection.title,
                "owner": collection.owner.get_username(),
                "description": collection.description,
                "url": request.build_absolute_uri(collection.get_absolute_url()),
            },
        )
    return render(
        request,
        "research/collection_detail.html",
        {
            "collection": collection,
            "items": items,
            "may_edit": policy.can_edit_collection(request.user, collection),
            "downloads": export_links(request),
        },
    )


# --- Submitting a document ------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def submit_page(request: HttpRequest) -> HttpResponse:
    """A web address or a file for the portal to collect; a curator publishes it after."""
    if not policy.can_submit_documents(request.user):
        raise PermissionDenied("Only researchers and curators may submit documents.")
    form = SubmitForm(request.POST, request.FILES) if request.method == "POST" else SubmitForm()
    if request.method == "POST" and form.is_valid():
        document = _submit(request, form)
        if document is not None:
            return redirect(f"{reverse('me')}#submissions")
    status = 400 if request.method == "POST" else 200
    return render(request, "research/submit.html", {"form": form}, status=status)


def _submit(request: HttpRequest, form: SubmitForm) -> Document | None:
    """Submit as the API does (someone else's unpublished document is neither shown nor
    fetched again). Errors go on the form; None then."""
    data = form.cleaned_data
    upload = data["file"]
    try:
        document = document_submit_as(
            request.user,
            url=data["url"].strip(),
            upload=upload,
            filename=upload.name if upload else "",
            kind=data["kind"] or None,
            title=data["title"],
        )
    except DocumentNotVisible as exc:
        form.add_error(None, exc.message)
        return None
    except IngestError as exc:
        form.add_error("file" if upload else "url", exc.message)
        return None
    if document.submitted_by_id == request.user.pk:
        messages.success(
            request,
            f"“{document}” is {document.get_status_display().lower()}; its status is below. "
            "A curator publishes it once it is processed.",
        )
    else:
        messages.info(request, f"The portal already holds this document: “{document}”.")
    return document
