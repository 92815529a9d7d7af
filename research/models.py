"""Documents about 287(g) agreements, their links to agencies, tags and feeds."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agreements.models import Agency, Agreement, SnapshotRow


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    """A news article, MOA, court filing, bill, report or press release."""

    class Kind(models.TextChoices):
        NEWS = "news", _("News article")
        MOA = "moa", _("Memorandum of agreement")
        COURT_FILING = "court_filing", _("Court filing")
        LEGISLATION = "legislation", _("Legislation")
        REPORT = "report", _("Government report")
        PRESS_RELEASE = "press_release", _("Press release")
        OTHER = "other", _("Other")

    class Rights(models.TextChoices):
        PUBLIC_DOMAIN = "public_domain", _("Public domain")
        OPEN_LICENCE = "open_licence", _("Open licence")
        COPYRIGHTED = "copyrighted", _("Copyrighted")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        FETCHING = "fetching", _("Fetching")
        FAILED = "failed", _("Failed")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        PUBLISHED = "published", _("Published")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind, default=Kind.NEWS)
    title = models.CharField(_("title"), max_length=500, blank=True)
    canonical_url = models.URLField(_("canonical URL"), max_length=2000, blank=True)
    source_url = models.URLField(
        _("source URL"),
        max_length=2000,
        blank=True,
        help_text=_("The address as submitted; the one that is fetched."),
    )
    publisher = models.CharField(_("publisher"), max_length=255, blank=True)
    authors = models.JSONField(_("authors"), default=list, blank=True)
    published_on = models.DateField(
        _("published"),
        null=True,
        blank=True,
        help_text=_("For an MOA, the date it was signed (from ICE's list)."),
    )
    language = models.CharField(_("language"), max_length=12, blank=True)
    rights = models.CharField(
        _("rights"),
        max_length=15,
        choices=Rights,
        default=Rights.COPYRIGHTED,
        help_text=_("Full text is public only for public-domain and openly licensed documents."),
    )
    file = models.FileField(_("original file"), upload_to="documents/%Y/%m/", blank=True)
    original_filename = models.CharField(
        _("original file name"),
        max_length=255,
        blank=True,
        help_text=_("The file's name as submitted (storage may rename the copy it keeps)."),
    )
    sha256 = models.CharField(_("file sha256"), max_length=64, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    text = models.TextField(_("extracted text"), blank=True)
    text_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    page_offsets = models.JSONField(
        _("page offsets"),
        default=list,
        blank=True,
        help_text=_("Character offset in the text where each PDF page starts."),
    )
    needs_ocr = models.BooleanField(_("needs OCR"), default=False)
    # Nullable, without a default: SQLite adds such columns in place, keeping the
    # search triggers on this table (migration 0008) instead of rebuilding it.
    file_created_on = models.DateField(
        _("file created"),
        null=True,
        blank=True,
        help_text=_("When the file itself was made, by its own metadata: not a publication date."),
    )
    file_modified_on = models.DateField(
        _("file modified"),
        null=True,
        blank=True,
        help_text=_("When the file itself was last changed, by its own metadata."),
    )
    guessed_fields = models.JSONField(
        _("guessed fields"),
        null=True,
        blank=True,
        help_text=_(
            "Fields the portal filled in by guessing, for a curator to check; "
            "editing one here settles it."
        ),
    )
    summary = models.TextField(_("curator summary"), blank=True)
    status = models.CharField(_("status"), max_length=15, choices=Status, default=Status.QUEUED)
    status_message = models.TextField(
        _("status message"), blank=True, help_text=_("Why processing failed, in one sentence.")
    )
    error_code = models.CharField(
        _("error code"),
        max_length=30,
        blank=True,
        help_text=_("Short machine-readable reason for the last failure, e.g. not_found."),
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        verbose_name=_("duplicate of"),
        help_text=_("Set when processing found the same file or text already in the portal."),
    )
    feed = models.ForeignKey(
        "Feed",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name=_("feed"),
    )
    http_etag = models.CharField(max_length=255, blank=True)
    http_last_modified = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="submitted_documents",
        db_index=False,  # the partial index below
    )
    agencies = models.ManyToManyField(
        Agency, through="DocumentAgency", related_name="documents", blank=True
    )
    agreements = models.ManyToManyField(
        Agreement, through="DocumentAgreement", related_name="documents", blank=True
    )
    tags = models.ManyToManyField(Tag, related_name="documents", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["text"])

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-published_on", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"], condition=~Q(sha256=""), name="document_unique_sha256"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "status_changed_at"]),
            models.Index(fields=["kind", "published_on"]),
            # Most documents are collected, not submitted: over a column of NULLs SQLite's
            # statistics make a full index look useless, and it scans the table for
            # every signed-in search (research.policy.search_scope).
            models.Index(
                fields=["submitted_by"],
                condition=Q(submitted_by__isnull=False),
                name="document_submitted_by",
            ),
        ]
        # Held through the role groups; research.policy turns them into decisions.
        permissions = [
            ("view_full_text", _("Can read the full text and file of copyrighted documents")),
            ("view_unreviewed", _("Can see unpublished documents and unconfirmed agency links")),
            ("submit_document", _("Can submit addresses and files to collect")),
        ]

    def __str__(self) -> str:
        return self.title or self.canonical_url or f"Document {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("research:document-detail", kwargs={"pk": self.pk})

    @property
    def guessed(self) -> list[str]:
        """The names of the fields filled in by guessing (``guessed_fields``, never None)."""
        return list(self.guessed_fields or [])


class DocumentURL(models.Model):
    """Every canonicalized URL at which a document was found."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="urls")
    url = models.URLField(max_length=2000)
    url_key = models.CharField(
        max_length=64, unique=True, help_text=_("sha256 of the canonical URL (URLs can be long).")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("document URL")
        verbose_name_plural = _("document URLs")

    def __str__(self) -> str:
        return self.url


def _evidence_row() -> models.ForeignKey:
    """The ICE list row that links a document to an agency or agreement (MOA found by its link)."""
    return models.ForeignKey(
        SnapshotRow,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ICE list row"),
        help_text=_("The row of ICE's list whose MOA or addendum link is this document."),
    )


class DocumentAgency(models.Model):
    """A document is about an agency: suggested by the linker or set by a curator."""

    class Method(models.TextChoices):
        MANUAL = "manual", _("Manual")
        AUTOMATIC = "automatic", _("Automatic")
        ICE_LIST = "ice_list", _("Linked from ICE's list")

    class Status(models.TextChoices):
        SUGGESTED = "suggested", _("Suggested")
        CONFIRMED = "confirmed", _("Confirmed")
        REJECTED = "rejected", _("Rejected")

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="agency_links")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="document_links")
    method = models.CharField(max_length=10, choices=Method, default=Method.AUTOMATIC)
    confidence = models.FloatField(default=1.0)
    status = models.CharField(max_length=10, choices=Status, default=Status.SUGGESTED)
    passage = models.TextField(blank=True, help_text=_("The text where the agency is named."))
    evidence_row = _evidence_row()
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("document–agency link")
        verbose_name_plural = _("document–agency links")
        constraints = [
            models.UniqueConstraint(fields=["document", "agency"], name="docagency_unique"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="docagency_confidence_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} → {self.agency}"


class DocumentAgreement(models.Model):
    """A document is an agreement's MOA or addendum, or otherwise about it.

    The link lives here, not on ``Agreement``, so that the agreements app does
    not depend on the research app.
    """

    class Role(models.TextChoices):
        MOA = "moa", _("MOA")
        ADDENDUM = "addendum", _("Addendum")
        RELATED = "related", _("Related")

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="agreement_links")
    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="document_links"
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.RELATED)
    evidence_row = _evidence_row()

    class Meta:
        verbose_name = _("document–agreement link")
        verbose_name_plural = _("document–agreement links")
        constraints = [
            models.UniqueConstraint(
                fields=["document", "agreement", "role"], name="docagreement_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} ({self.role}) → {self.agreement}"


class Feed(models.Model):
    """An RSS or Atom source that Celery beat polls for new documents."""

    url = models.URLField(_("URL"), max_length=2000, unique=True)
    title = models.CharField(_("title"), max_length=255, blank=True)
    default_kind = models.CharField(
        max_length=20, choices=Document.Kind, default=Document.Kind.NEWS
    )
    active = models.BooleanField(default=True)
    etag = models.CharField(max_length=255, blank=True)
    last_modified = models.CharField(max_length=255, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("feed")
        verbose_name_plural = _("feeds")

    def __str__(self) -> str:
        return self.title or self.url


class Annotation(models.Model):
    """A researcher's note on a passage of a document: a W3C Web Annotation.

    The passage is held by two W3C selectors over the document's extracted
    text: a TextQuoteSelector (``exact`` with up to 32 characters of
    ``prefix`` and ``suffix``) and a TextPositionSelector (``start``, ``end``).
    ``text_sha256`` names the text they were placed on; when the document's
    text changes, research.services.anchoring places the note again and
    records how (``anchor``). A note is never deleted for want of a place: it
    is orphaned and still shown to its author with its quote.
    """

    class Visibility(models.TextChoices):
        PRIVATE = "private", _("Only me")
        RESEARCHERS = "researchers", _("Researchers")
        GROUPS = "groups", _("The groups I choose")
        PUBLIC = "public", _("Public, after a curator approves it")

    class Review(models.TextChoices):
        PENDING = "pending", _("Waiting for a curator")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    class Anchor(models.TextChoices):
        ANCHORED = "anchored", _("On its passage")
        FUZZY = "fuzzy", _("Placed by a close match")
        ORPHANED = "orphaned", _("Passage not found")

    class Motivation(models.TextChoices):
        COMMENTING = "commenting", _("Comment")
        HIGHLIGHTING = "highlighting", _("Highlight")
        QUESTIONING = "questioning", _("Question")
        TAGGING = "tagging", _("Tags")

    uuid = models.UUIDField(_("identifier"), default=uuid.uuid4, unique=True, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="annotations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    body = models.TextField(_("note (Markdown)"), blank=True)
    tags = models.ManyToManyField(Tag, related_name="annotations", blank=True)
    # Read by their members when visibility is "groups"; teams are ordinary auth groups.
    groups = models.ManyToManyField(
        "auth.Group", related_name="annotations", blank=True, verbose_name=_("shared with")
    )
    motivation = models.CharField(max_length=15, choices=Motivation, default=Motivation.COMMENTING)
    visibility = models.CharField(
        _("visibility"), max_length=12, choices=Visibility, default=Visibility.PRIVATE
    )
    review = models.CharField(
        _("review"),
        max_length=10,
        choices=Review,
        default=Review.PENDING,
        help_text=_("Only an approved public note is shown to the public."),
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # TextQuoteSelector
    exact = models.TextField(_("quote"))
    prefix = models.CharField(max_length=64, blank=True)
    suffix = models.CharField(max_length=64, blank=True)
    # TextPositionSelector, over Document.text
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    page = models.PositiveIntegerField(
        _("PDF page"), null=True, blank=True, help_text=_("1 for the first page.")
    )
    text_sha256 = models.CharField(
        max_length=64, blank=True, help_text=_("The document text the selectors point into.")
    )
    anchor = models.CharField(_("anchor"), max_length=10, choices=Anchor, default=Anchor.ANCHORED)
    # Carried over from a note on an earlier version of the document (a renewed MOA).
    carried_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="carried_to",
        verbose_name=_("carried over from"),
    )
    previous_exact = models.TextField(
        _("previous wording"),
        blank=True,
        help_text=_("The passage as it read when the note was made, where it has since changed."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[tags, groups])

    class Meta:
        verbose_name = _("annotation")
        verbose_name_plural = _("annotations")
        ordering = ["document", "start", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lte=models.F("end")), name="annotation_span"),
        ]
        indexes = [
            models.Index(fields=["document", "start"]),
            models.Index(fields=["visibility", "review"]),
            models.Index(fields=["author", "anchor"]),
        ]
        permissions = [
            ("moderate_annotation", _("Can approve, reject and see the flags of public notes")),
        ]

    def __str__(self) -> str:
        quote = " ".join(self.exact.split())
        return f"“{quote[:60]}{'…' if len(quote) > 60 else ''}” on {self.document}"

    def get_absolute_url(self) -> str:
        return f"{self.document.get_absolute_url()}#note-{self.pk}"

    @property
    def orphaned(self) -> bool:
        return self.anchor == self.Anchor.ORPHANED

    @property
    def wording_changed(self) -> bool:
        return bool(self.previous_exact) and self.previous_exact != self.exact


class AnnotationFlag(models.Model):
    """Someone signed in thinks a note should not be public; it goes back to the queue."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="flags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(
        default=False, help_text=_("Set when a curator reviews the note after the flag.")
    )

    class Meta:
        verbose_name = _("flag")
        verbose_name_plural = _("flags")
        constraints = [
            models.UniqueConstraint(fields=["annotation", "user"], name="annotationflag_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} flagged {self.annotation_id}"


class Collection(models.Model):
    """Documents and agencies a person gathers, in their order, each with a note.

    Private to its owner, shared with named people, or public: anyone with its
    address (``share_key``, a random UUID that cannot be guessed from another)
    may read it. ``research.policy.visible_collections`` decides who sees it.
    """

    class Visibility(models.TextChoices):
        PRIVATE = "private", _("Private: only you")
        SHARED = "shared", _("Shared with the people you name")
        PUBLIC = "public", _("Public: anyone with the link")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="collections",
        verbose_name=_("owner"),
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility, default=Visibility.PRIVATE
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="collections_shared_with_me",
        verbose_name=_("shared with"),
        help_text=_("Who may read a shared collection."),
    )
    share_key = models.UUIDField(_("link key"), default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        ordering = ["-updated_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("research:collection-detail", kwargs={"key": self.share_key})


class CollectionItem(models.Model):
    """One document or one agency in a collection, at a place, with a note.

    Two foreign keys, exactly one set (a check constraint), rather than a
    generic relation: the database keeps each target real (deleting a document
    removes it from collections), a target is joined like any other, and an
    item can point at nothing else.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("collection item")
        verbose_name_plural = _("collection items")
        ordering = ["collection", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(document__isnull=False, agency__isnull=True)
                | Q(document__isnull=True, agency__isnull=False),
                name="collectionitem_one_target",
            ),
            models.UniqueConstraint(
                fields=["collection", "document"], name="collectionitem_document_once"
            ),
            models.UniqueConstraint(
                fields=["collection", "agency"], name="collectionitem_agency_once"
            ),
        ]

    def __str__(self) -> str:
        return str(self.document or self.agency)

    @property
    def target(self):
        return self.document or self.agency


# --- Alerts: watches, saved searches, and what was delivered for them. ---


class AlertRate(models.TextChoices):
    """How often an alert's new matches are e-mailed."""

    REALTIME = "realtime", _("As it happens")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    OFF = "off", _("Off")


class Watch(models.Model):
    """A researcher follows an agency, a county, a state or the whole program."""

    class Scope(models.TextChoices):
        AGENCY = "agency", _("An agency")
        COUNTY = "county", _("A county")
        STATE = "state", _("A state")
        PROGRAM = "program", _("The whole program")

    class Change(models.TextChoices):
        """The kinds of change a watch follows (mapped onto AgreementEvent kinds)."""

        PENDING_LISTED = "pending_listed", _("Listed as pending")
        SIGNED = "signed", _("Signed")
        RENAMED = "renamed", _("Renamed")
        MODEL_SWITCHED = "model_switched", _("Model switched")
        ENDED = "ended", _("Ended")
        RELISTED = "relisted", _("Back on the list")
        MOA = "moa", _("MOA posted or changed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches"
    )
    scope = models.CharField(_("what to watch"), max_length=10, choices=Scope)
    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="watches"
    )
    county_fips = models.CharField(_("county FIPS"), max_length=5, blank=True)
    state = models.CharField(_("state"), max_length=2, blank=True)
    changes = models.JSONField(_("kinds of change"), default=list)
    rate = models.CharField(_("e-mail"), max_length=10, choices=AlertRate, default=AlertRate.DAILY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("watch")
        verbose_name_plural = _("watches")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="agency", agency__isnull=False, county_fips="", state="")
                    | Q(scope="county", agency__isnull=True, county_fips__regex=r"^[0-9]{5}$")
                    | Q(
                        scope="state",
                        agency__isnull=True,
                        county_fips="",
                        state__regex=r"^[A-Z]{2}$",
                    )
                    | Q(scope="program", agency__isnull=True, county_fips="", state="")
                ),
                name="watch_scope_consistent",
            ),
        ]
        indexes = [models.Index(fields=["scope", "state"]), models.Index(fields=["county_fips"])]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.scope == self.Scope.AGENCY:
            return str(self.agency)
        if self.scope == self.Scope.COUNTY:
            return _("County %(fips)s") % {"fips": self.county_fips}
        if self.scope == self.Scope.STATE:
            return _("State %(state)s") % {"state": self.state}
        return str(_("The whole 287(g) program"))

    @property
    def change_labels(self) -> list[str]:
        labels = dict(self.Change.choices)
        return [str(labels.get(change, change)) for change in self.changes]


class SavedSearch(models.Model):
    """A search (words and filters) whose new matching documents are sent to its owner."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name = models.CharField(_("name"), max_length=200)
    query = models.CharField(_("words"), max_length=500, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    rate = models.CharField(_("e-mail"), max_length=10, choices=AlertRate, default=AlertRate.DAILY)
    # Documents published before this are the search's past, never sent.
    since = models.DateTimeField(_("matching since"))
    paused_note = models.TextField(
        _("paused"), blank=True, help_text=_("Why the portal stopped sending this search.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("saved search")
        verbose_name_plural = _("saved searches")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_search_url(self) -> str:
        from urllib.parse import urlencode

        pairs = [("q", self.query)] if self.query else []
        pairs += [(name, v) for name, values in self.filters.items() for v in values]
        return reverse("research:search") + "?" + urlencode(pairs)


class Webhook(models.Model):
    """An address the portal POSTs each new alert item to, signed with ``secret``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(_("address"), max_length=2000)
    secret = models.CharField(_("signing secret"), max_length=64)
    active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_note = models.TextField(_("why it was disabled"), blank=True)
    last_status = models.CharField(_("last answer"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url


class AlertDigest(models.Model):
    """One e-mail: its deliveries are fixed before it is sent, so none goes out twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rate = models.CharField(max_length=10, choices=AlertRate)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("alert digest")
        verbose_name_plural = _("alert digests")

    def __str__(self) -> str:
        return f"{self.rate} digest #{self.pk} for {self.user}"


class AlertItem(models.Model):
    """What alerts send: one agreement change or one document, stored once for every alert."""

    # Stable across history rebuilds, which give events new ids: "event:<agreement>:<kind>:...".
    key = models.CharField(max_length=200, unique=True)
    title = models.CharField(max_length=500)
    url = models.CharField(max_length=2000)
    detail = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("alert item")
        verbose_name_plural = _("alert items")

    def __str__(self) -> str:
        return self.title


class Delivery(models.Model):
    """One item matched by one alert: the database refuses a second, so nothing is sent twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    watch = models.ForeignKey(
        Watch, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    saved_search = models.ForeignKey(
        SavedSearch, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    item = models.ForeignKey(AlertItem, on_delete=models.CASCADE, related_name="deliveries")
    matched_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Which matching run created it: rows a run skipped as already there keep their old run.
    run = models.CharField(max_length=32, db_index=True)
    digest = models.ForeignKey(
        AlertDigest, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.CheckConstraint(
                condition=Q(watch__isnull=True) ^ Q(saved_search__isnull=True),
                name="delivery_one_alert",
            ),
            models.UniqueConstraint(
                fields=["watch", "item"],
                condition=Q(watch__isnull=False),
                name="delivery_once_watch",
            ),
            models.UniqueConstraint(
                fields=["saved_search", "item"],
                condition=Q(saved_search__isnull=False),
                name="delivery_once_search",
            ),
        ]
        indexes = [models.Index(fields=["user", "digest"])]

    def __str__(self) -> str:
        return f"{self.item_id} for {self.watch_id or self.saved_search_id}"


class WebhookCall(models.Model):
    """One delivery POSTed to one webhook, retried with backoff until it is answered 2xx."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Given up")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="calls")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="webhook_calls")
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook call")
        verbose_name_plural = _("webhook calls")
        constraints = [
            models.UniqueConstraint(fields=["webhook", "delivery"], name="webhookcall_once"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery} → {self.webhook}"
