"""Who may read what in the research app: the one place that decides it."""

from __future__ import annotations

from django.db.models import QuerySet

from research.models import Document

RESEARCHERS_GROUP = "Researchers"
EXCERPT_CHARS = 300


def is_researcher(user) -> bool:
    """Staff, or a member of the Researchers group."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return user.groups.filter(name=RESEARCHERS_GROUP).exists()


def can_submit_documents(user) -> bool:
    return is_researcher(user)


def can_read_full_text(user, document: Document) -> bool:
    """Public-domain and openly licensed text is public; researchers read all text."""
    return document.full_text_is_public or is_researcher(user)


def documents_visible_to(user) -> QuerySet[Document]:
    """What ``user`` may see: ``viewable_by`` plus the user's own submissions.

    A researcher follows the processing of what they submitted before a
    curator publishes it.
    """
    visible = Document.objects.viewable_by(user)
    if user is not None and user.is_authenticated and not user.is_staff:
        visible = visible | Document.objects.filter(submitted_by=user)
    return visible


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text``, cut at a word, for readers who may not see it all."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
