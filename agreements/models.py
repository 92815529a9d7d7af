"""Agencies, their 287(g) agreements, and every version of ICE's lists.

Every figure the portal shows can be traced: an ``Agreement`` is resolved from
``SnapshotRow``s, each row belongs to a ``ListSnapshot`` (one ICE file, kept
with its sha256), and ``AgreementEvent``s are derived from consecutive snapshots.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agreements import choices


class SupportModel(models.TextChoices):
    """ICE's "SUPPORT TYPE": the model of 287(g) agreement."""

    JEM = choices.JEM, _("Jail Enforcement Model")
    TFM = choices.TFM, _("Task Force Model")
    WSO = choices.WSO, _("Warrant Service Officer")


class AgencyKind(models.TextChoices):
    COUNTY = choices.COUNTY, _("County agency")
    MUNICIPALITY = choices.MUNICIPALITY, _("Municipal agency")
    STATE = choices.STATE, _("State agency")
    OTHER = choices.OTHER, _("Other")


class Agency(models.Model):
    """A law-enforcement agency, under its canonical name."""

    name = models.CharField(_("name"), max_length=255)
    slug = models.SlugField(_("slug"), max_length=255, unique=True)
    state = models.CharField(_("state"), max_length=2, help_text=_("USPS code, e.g. TX."))
    kind = models.CharField(_("kind"), max_length=20, choices=AgencyKind, default=AgencyKind.OTHER)
    # ICE's own TYPE column as last seen, e.g. "Sheriff's Office".
    agency_type = models.CharField(_("agency type"), max_length=100, blank=True)
    county_name = models.CharField(_("county"), max_length=100, blank=True)
    county_fips = models.CharField(
        _("county FIPS"), max_length=5, blank=True, help_text=_("5-digit state+county FIPS code.")
    )
    ori = models.CharField(_("FBI ORI"), max_length=9, blank=True)
    name_key = models.CharField(
        _("match key"),
        max_length=255,
        editable=False,
        help_text=_("Normalized name used to recognise the agency in new files."),
    )
    needs_review = models.BooleanField(
        _("needs review"),
        default=False,
        help_text=_("A near-duplicate of another agency that the importer would not merge alone."),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["state", "name"]
        constraints = [
            models.UniqueConstraint(fields=["state", "name_key"], name="agency_unique_state_key"),
            models.CheckConstraint(
                condition=Q(county_fips="") | Q(county_fips__regex=r"^[0-9]{5}$"),
                name="agency_county_fips_5_digits",
            ),
            models.CheckConstraint(
                condition=Q(state__regex=r"^[A-Z]{2}$"), name="agency_state_usps_code"
            ),
        ]
        indexes = [models.Index(fields=["county_fips"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("agreements:agency-detail", kwargs={"slug": self.slug})


class AgencyAlias(models.Model):
    """A spelling of an agency's name seen in an ICE file or added by a curator."""

    class Source(models.TextChoices):
        ICE = "ice", _("ICE file")
        CURATOR = "curator", _("Curator")
        MERGE = "merge", _("Merged agency")

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(_("name"), max_length=255)
    state = models.CharField(_("state"), max_length=2)
    name_key = models.CharField(_("match key"), max_length=255)
    source = models.CharField(max_length=10, choices=Source, default=Source.ICE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("agency alias")
        verbose_name_plural = _("agency aliases")
        constraints = [
            models.UniqueConstraint(fields=["state", "name_key"], name="alias_unique_state_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Agreement(models.Model):
    """One 287(g) agreement of one agency under one model.

    A renewal (new signed date) or a model switch is a new agreement that
    records the one it succeeds.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="agreements")
    model = models.CharField(_("model"), max_length=3, choices=SupportModel)
    signed_on = models.DateField(_("signed"), null=True, blank=True)
    signed_raw = models.CharField(
        _("signed, as ICE wrote it"),
        max_length=100,
        blank=True,
        help_text=_("Kept when the SIGNED cell could not be read as a date."),
    )
    moa_url = models.URLField(_("MOA URL"), max_length=2000, blank=True)
    addendum_url = models.URLField(_("addendum URL"), max_length=2000, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    ending_in_question = models.BooleanField(
        _("ending in question"),
        default=False,
        help_text=_(
            "Ended, but a later list may name it otherwise (a possible rename a curator has "
            'not settled): shown as "Name changed?", not "Ended".'
        ),
    )
    first_listed_at = models.DateTimeField(_("first listed"), null=True, blank=True)
    last_listed_at = models.DateTimeField(_("last listed"), null=True, blank=True)
    predecessor = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="successors",
        help_text=_("The agreement this one renews or replaces."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["agency__state", "agency__name", "model", "signed_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "model", "signed_on"],
                name="agreement_unique_signed",
                condition=Q(signed_on__isnull=False),
            ),
            models.CheckConstraint(
                condition=Q(first_listed_at__isnull=True)
                | Q(last_listed_at__isnull=True)
                | Q(first_listed_at__lte=models.F("last_listed_at")),
                name="agreement_listed_in_order",
            ),
            models.CheckConstraint(
                condition=Q(ending_in_question=False) | Q(status="ended"),
                name="agreement_question_only_ended",
            ),
        ]
        indexes = [models.Index(fields=["status", "model"])]

    def __str__(self) -> str:
        signed = self.signed_on.isoformat() if self.signed_on else "unsigned"
        return f"{self.agency} {self.model} {signed}"

    @property
    def status_label(self) -> str:
        """The status as the public reads it: an ending in question is no ending yet."""
        if self.ending_in_question:
            return str(_("Name changed?"))
        return self.get_status_display()


class ListSnapshotQuerySet(models.QuerySet):
    """The one order of ICE's lists: publication time, then sha256 to break ties.

    Every page, export, API and history rebuild orders lists through these
    methods, so two lists published at the same second always come in the
    same order whichever was imported first.
    """

    def applied(self) -> ListSnapshotQuerySet:
        """Lists that count in the history: held lists wait for a curator."""
        return self.filter(held=False)

    def chronological(self) -> ListSnapshotQuerySet:
        return self.order_by("published_at", "sha256")

    def newest_first(self) -> ListSnapshotQuerySet:
        return self.order_by("-published_at", "-sha256")


# The warnings that hold a list for a curator, and the sentence that ends each.
HOLD_CODES = frozenset({"publication_doubt", "list_stale", "list_shrank", "list_all_new"})
HELD = (
    "It is kept but held: no agreement is ended and no event recorded until a curator applies it "
    "(admin action, or import it again with --accept-shrink)."
)


class ListSnapshot(models.Model):
    """One ICE spreadsheet, kept byte for byte: a version of the record."""

    class Kind(models.TextChoices):
        PARTICIPATING = "participating", _("Participating agencies")
        PENDING = "pending", _("Pending agencies")

    class PublishedAtSource(models.TextChoices):
        ARGUMENT = choices.FROM_ARGUMENT, _("Given at import")
        CAPTURE = choices.FROM_CAPTURE, _("Capture time in the file name")
        METADATA = choices.FROM_METADATA, _("Workbook metadata")
        FILENAME = choices.FROM_FILENAME, _("File name")
        FETCHED = choices.FROM_FETCHED, _("Time of download")

    class Provenance(models.TextChoices):
        WORKBOOK = choices.WORKBOOK, _("ICE's workbook")
        CAPTURE = choices.CAPTURED_TABLE, _("Table parsed from a capture of ICE's page")

    kind = models.CharField(_("kind"), max_length=15, choices=Kind)
    published_at = models.DateTimeField(_("published"), db_index=True)
    published_at_source = models.CharField(max_length=10, choices=PublishedAtSource)
    published_at_evidence = models.JSONField(
        _("dating evidence"),
        default=list,
        blank=True,
        help_text=_(
            "Each clue to the publication time (argument, capture time, metadata, file name, "
            "latest signing, columns) with its verdict and reason."
        ),
    )
    provenance = models.CharField(
        _("provenance"), max_length=10, choices=Provenance, default=Provenance.WORKBOOK
    )
    sha256 = models.CharField(_("sha256"), max_length=64, unique=True)
    file = models.FileField(_("original file"), upload_to="snapshots/%Y/%m/")
    original_filename = models.CharField(max_length=255, blank=True)
    filenames = models.JSONField(
        _("file names"),
        default=list,
        blank=True,
        help_text=_("Every name these same bytes were imported under."),
    )
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    sheet_name = models.CharField(max_length=100, blank=True)
    header = models.JSONField(_("header"), default=list)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    warnings = models.JSONField(
        _("warnings"),
        default=list,
        help_text=_("Each oddity found: row, column, value and message."),
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    held = models.BooleanField(
        _("held"),
        default=False,
        help_text=_(
            "A participating list with fewer than half the rows of the one before: kept, but "
            "left out of the history (no agreement ended) until a curator applies it."
        ),
    )

    objects = ListSnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("ICE list snapshot")
        verbose_name_plural = _("ICE list snapshots")
        ordering = ["-published_at"]
        get_latest_by = "published_at"
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="snapshot_sha256_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.published_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("agreements:snapshot-detail", kwargs={"pk": self.pk})

    @property
    def held_reasons(self) -> list[str]:
        """Why this list is held out of the history (none once a curator applied it)."""
        if not self.held:
            return []
        return [
            w["message"].removesuffix(f" {HELD}")
            for w in self.warnings or []
            if w.get("code") in HOLD_CODES
        ]


class SnapshotRow(models.Model):
    """A data row of a snapshot as ICE wrote it, and what it was resolved to."""

    # No index of its own: the unique (snapshot, row_number) index serves it.
    snapshot = models.ForeignKey(
        ListSnapshot, on_delete=models.CASCADE, related_name="rows", db_index=False
    )
    row_number = models.PositiveIntegerField(_("row"), help_text=_("1-based row in the worksheet."))
    raw = models.JSONField(_("cells"), help_text=_("Header -> cell value, as in the file."))
    state = models.CharField(max_length=2, blank=True)
    agency_name = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=3, choices=SupportModel, blank=True)
    signed_on = models.DateField(null=True, blank=True)
    signed_raw = models.CharField(
        max_length=100, blank=True, help_text=_("SIGNED as written, when it was not a clean date.")
    )
    agency_type = models.CharField(max_length=100, blank=True)
    county_name = models.CharField(max_length=100, blank=True)
    county_fips = models.CharField(max_length=5, blank=True)
    moa_url = models.URLField(
        max_length=2000, blank=True, help_text=_("The MOA's address on ICE's site, unwrapped.")
    )
    addendum_url = models.URLField(max_length=2000, blank=True)
    moa_source_url = models.URLField(
        max_length=2000,
        blank=True,
        help_text=_("The MOA link as written, when it was wrapped (Wayback Machine, safelinks)."),
    )
    addendum_source_url = models.URLField(max_length=2000, blank=True)
    agency = models.ForeignKey(
        Agency, on_delete=models.SET_NULL, null=True, blank=True, related_name="snapshot_rows"
    )
    agreement = models.ForeignKey(
        Agreement, on_delete=models.SET_NULL, null=True, blank=True, related_name="snapshot_rows"
    )
    is_duplicate = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("snapshot row")
        verbose_name_plural = _("snapshot rows")
        ordering = ["snapshot", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "row_number"], name="row_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot} row {self.row_number}"


class AgreementEvent(models.Model):
    """A change in an agreement, derived from two consecutive snapshots."""

    class Kind(models.TextChoices):
        PENDING_LISTED = "pending_listed", _("Listed as pending")
        SIGNED = "signed", _("Signed (first on the participating list)")
        FIELD_CHANGED = "field_changed", _("Field changed")
        REDATED = "redated", _("Signing date corrected")
        MOA_POSTED = "moa_posted", _("MOA posted")
        MOA_CHANGED = "moa_changed", _("MOA link changed")
        MOA_REMOVED = "moa_removed", _("MOA link removed")
        RENAMED = "renamed", _("Renamed")
        # Weaker evidence of a rename, until a curator settles it: never shown as an ending.
        POSSIBLE_RENAME = "possible_rename", _("Name changed?")
        RESIGNED = "resigned", _("Re-signed")
        MODEL_SWITCHED = "model_switched", _("Model switched")
        # Dropped from the participating list with no successor.
        DELISTED = "delisted", _("Ended")
        RELISTED = "relisted", _("Back on the list")

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="events")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    occurred_at = models.DateTimeField(_("seen at"), db_index=True)
    snapshot = models.ForeignKey(ListSnapshot, on_delete=models.CASCADE, related_name="events")
    previous_snapshot = models.ForeignKey(
        ListSnapshot, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    field = models.CharField(max_length=50, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)

    class Meta:
        verbose_name = _("agreement event")
        verbose_name_plural = _("agreement events")
        ordering = ["-occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "kind", "snapshot", "field"], name="event_unique"
            ),
        ]
        indexes = [models.Index(fields=["kind", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.agreement}"


class AgreementLastSeen(models.Model):
    """What the participating lists last said about an agreement, up to the newest one.

    Kept by the importer so that a newer list is compared with this record
    instead of re-reading every earlier snapshot row: the snapshot that last
    listed the agreement and, for each field events are derived from, the last
    non-blank value and the snapshot it came from. It is a function of the
    agreement's rows, rewritten by every rebuild (``services.events``) and
    advanced by the fast path (``services.appended``). A missing record means
    "unknown": the importer then rebuilds the agency from its rows, so a record
    lost to a deleted snapshot (cascade) repairs itself.
    """

    agreement = models.OneToOneField(
        Agreement, on_delete=models.CASCADE, primary_key=True, related_name="last_seen"
    )
    # db_index=False: these are never searched by; a snapshot's deletion
    # (cascade) may scan the table. db_constraint=False: every import moves
    # these columns of every listed agreement, and PostgreSQL would check each
    # moved key against the snapshot table at commit (a tenth of a step's
    # time). The record is derived data: Django still cascades a snapshot's
    # deletion to it, and a missing or stale record is rebuilt from the rows.
    snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        help_text=_("The last participating list with the agreement; empty if never on one."),
    )
    county_name = models.CharField(max_length=100, blank=True)
    county_name_snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    agency_type = models.CharField(max_length=100, blank=True)
    agency_type_snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    signed_on = models.DateField(null=True, blank=True)
    signed_on_snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    moa_url = models.URLField(max_length=2000, blank=True)
    moa_url_snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    addendum_url = models.URLField(max_length=2000, blank=True)
    addendum_url_snapshot = models.ForeignKey(
        ListSnapshot,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("agreement as last seen")
        verbose_name_plural = _("agreements as last seen")

    def __str__(self) -> str:
        return f"{self.agreement_id} last listed in {self.snapshot_id}"


class IdentityRule(models.Model):
    """A curator's decision that two spellings of one state are one agency, or two.

    Every import and re-import applies it (``services.identity``); it wins over
    any evidence in the lists. The two name keys are stored in sorted order.
    """

    class Decision(models.TextChoices):
        SAME = "same", _("Same agency")
        DISTINCT = "distinct", _("Different agencies")

    state = models.CharField(_("state"), max_length=2)
    name_a = models.CharField(_("first name"), max_length=255)
    name_b = models.CharField(_("second name"), max_length=255)
    key_a = models.CharField(max_length=255, editable=False)
    key_b = models.CharField(max_length=255, editable=False)
    decision = models.CharField(_("decision"), max_length=10, choices=Decision)
    note = models.TextField(_("note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("identity rule")
        verbose_name_plural = _("identity rules")
        ordering = ["state", "name_a", "name_b"]
        constraints = [
            models.UniqueConstraint(fields=["state", "key_a", "key_b"], name="identity_rule_pair"),
            models.CheckConstraint(
                condition=Q(key_a__lt=models.F("key_b")), name="identity_rule_sorted"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_a} / {self.name_b} ({self.state}): {self.get_decision_display()}"


class PossibleRename(models.Model):
    """Weak evidence that an agency was renamed, waiting for a curator's ``IdentityRule``.

    One list dropped an agreement and the next added one in the same state with
    the same model and signing date, under a name not close enough to merge
    alone. Derived from the lists by every import (never edited): until it is
    settled the history shows "Name changed?" instead of an ending.
    """

    state = models.CharField(_("state"), max_length=2)
    old_name = models.CharField(_("name before"), max_length=255)
    old_key = models.CharField(max_length=255)
    new_name = models.CharField(_("name after"), max_length=255)
    new_key = models.CharField(max_length=255)
    model = models.CharField(_("model"), max_length=3, choices=SupportModel)
    signed_on = models.DateField(_("signed"))
    snapshot = models.ForeignKey(ListSnapshot, on_delete=models.CASCADE, related_name="+")
    previous_snapshot = models.ForeignKey(ListSnapshot, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("possible rename")
        verbose_name_plural = _("possible renames")
        ordering = ["state", "old_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["state", "old_key", "new_key", "model", "signed_on", "snapshot"],
                name="possible_rename_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.old_name} -> {self.new_name} ({self.state})?"
