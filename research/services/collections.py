"""Every write to collections: make, change, share, delete; add, note, move, remove items.

Each service checks with ``research.policy`` that the person may do it and
refuses with :class:`CollectionRefused`, whose ``errors`` map a field to a
sentence; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max

from agreements.models import Agency
from research import policy
from research.models import Collection, CollectionItem, Document
from research.services import Refused

TITLE_CHARS = 200
NOTE_CHARS = 5000
DESCRIPTION_CHARS = 5000
# Enough for a long reading list; past it, a second collection reads better.
MAX_ITEMS = 1000


class CollectionRefused(Refused):
    """A collection or item that cannot be written; ``errors`` maps fields to sentences."""


def _check_owner(user, collection: Collection) -> None:
    if not policy.can_edit_collection(user, collection):
        raise CollectionRefused("Only the owner of this collection may change it.")


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise CollectionRefused({"title": "Give the collection a title."})
    if len(title) > TITLE_CHARS:
        raise CollectionRefused({"title": f"A title is at most {TITLE_CHARS} characters."})
    return title


def _text(field: str, text: str, limit: int) -> str:
    text = text.strip()
    if "\x00" in text:
        raise CollectionRefused({field: "The text holds a NUL character; remove it."})
    if len(text) > limit:
        raise CollectionRefused({field: f"This text is at most {limit:,} characters."})
    return text


def _visibility(visibility: str) -> str:
    if visibility not in Collection.Visibility.values:
        choices = ", ".join(Collection.Visibility.values)
        raise CollectionRefused({"visibility": f"Choose who may read it: one of {choices}."})
    return visibility


def _readers(owner, usernames: Iterable[str]) -> list:
    """The accounts named, all of which must exist and be active (the owner left out)."""
    names = {name.strip() for name in usernames if name.strip()}
    found = list(get_user_model().objects.filter(username__in=names, is_active=True))
    missing = names - {user.get_username() for user in found}
    if missing:
        listed = ", ".join(sorted(missing))
        raise CollectionRefused(
            {"shared_with": f"No account is named {listed}; check the spelling of each name."}
        )
    return [user for user in found if user.pk != owner.pk]


def collection_create(
    *, owner, title: str, description: str = "", visibility: str = Collection.Visibility.PRIVATE
) -> Collection:
    """A new, empty collection of ``owner``."""
    if not policy.can_keep_collections(owner):
        raise CollectionRefused("Your account may not keep collections.")
    return Collection.objects.create(
        owner=owner,
        title=_title(title),
        description=_text("description", description, DESCRIPTION_CHARS),
        visibility=_visibility(visibility),
    )


def collection_update(
    *,
    user,
    collection: Collection,
    title: str,
    description: str = "",
    visibility: str,
    shared_with: Iterable[str] = (),
) -> Collection:
    """Rename, describe and share ``collection``; ``shared_with`` holds user names."""
    _check_owner(user, collection)
    errors: dict[str, str] = {}
    values = {}
    for field, check in (
        ("title", lambda: _title(title)),
        ("description", lambda: _text("description", description, DESCRIPTION_CHARS)),
        ("visibility", lambda: _visibility(visibility)),
        ("shared_with", lambda: _readers(collection.owner, shared_with)),
    ):
        try:
            values[field] = check()
        except CollectionRefused as exc:
            errors.update(exc.errors)
    if errors:
        raise CollectionRefused(errors)
    with transaction.atomic():
        collection.title = values["title"]
        collection.description = values["description"]
        collection.visibility = values["visibility"]
        collection.save()
        collection.shared_with.set(values["shared_with"])
    return collection


def collection_delete(*, user, collection: Collection) -> None:
    _check_owner(user, collection)
    collection.delete()


def collection_item_add(
    *,
    user,
    collection: Collection,
    document: Document | None = None,
    agency: Agency | None = None,
    note: str = "",
) -> CollectionItem:
    """Put a document or an agency at the end of ``collection``."""
    _check_owner(user, collection)
    if (document is None) == (agency is None):
        raise CollectionRefused("Add either a document or an agency.")
    if document is not None and not policy.can_view(user, document):
        raise CollectionRefused("There is no document you may see at this address.")
    note = _text("note", note, NOTE_CHARS)
    with transaction.atomic():
        # The collection's row is the lock: additions to it queue up for their positions.
        Collection.objects.select_for_update().filter(pk=collection.pk).first()
        items = CollectionItem.objects.filter(collection=collection)
        if items.count() >= MAX_ITEMS:
            raise CollectionRefused(
                f"A collection holds at most {MAX_ITEMS:,} items; start another one."
            )
        if items.filter(document=document, agency=agency).exists():
            raise CollectionRefused(f"“{document or agency}” is already in “{collection}”.")
        last = items.aggregate(last=Max("position"))["last"]
        try:
            with transaction.atomic():
                item = CollectionItem.objects.create(
                    collection=collection,
                    document=document,
                    agency=agency,
                    note=note,
                    position=0 if last is None else last + 1,
                )
        except IntegrityError as exc:  # the same item added at the same moment
            raise CollectionRefused(
                f"“{document or agency}” is already in “{collection}”."
            ) from exc
        collection.save(update_fields=["updated_at"])
    return item


def collection_item_note(*, user, item: CollectionItem, note: str) -> CollectionItem:
    _check_owner(user, item.collection)
    item.note = _text("note", note, NOTE_CHARS)
    item.save(update_fields=["note"])
    return item


def collection_item_move(*, user, item: CollectionItem, direction: str) -> CollectionItem:
    """Swap ``item`` with its neighbour above (``"up"``) or below (``"down"``).

    Positions are renumbered 0, 1, 2... on the way, so gaps and ties left by
    deletions or concurrent additions never block a move.
    """
    _check_owner(user, item.collection)
    if direction not in ("up", "down"):
        raise CollectionRefused({"direction": "Move an item up or down."})
    with transaction.atomic():
        items = list(
            CollectionItem.objects.select_for_update()
            .filter(collection=item.collection)
            .order_by("position", "pk")
        )
        index = next(i for i, other in enumerate(items) if other.pk == item.pk)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(items):
            items[index], items[other] = items[other], items[index]
        for position, each in enumerate(items):
            if each.position != position:
                each.position = position
                each.save(update_fields=["position"])
    item.refresh_from_db()
    return item


def collection_item_remove(*, user, item: CollectionItem) -> None:
    _check_owner(user, item.collection)
    item.delete()
