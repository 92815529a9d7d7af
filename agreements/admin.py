"""Curator tools: agencies (search, merge), agreements, and the ICE list snapshots."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from agreements import normalize, selectors
from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    IdentityRule,
    ListSnapshot,
    PossibleRename,
    SnapshotRow,
)
from agreements.services.agencies import AgencyMergeError, agency_merge
from agreements.services.identity import IdentityRuleError, identity_apply, identity_rule_set
from agreements.services.snapshots import SnapshotImportError, snapshot_import, snapshot_release
from portal.admin_common import ReadOnlyInline

# --- Agencies -------------------------------------------------------------------

# URLs without a scheme are taken as https (Django 6 default, stated now).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def alias_name_key(name: str) -> str:
    """The importer's match key for ``name``, so a curator's alias is found in new files."""
    return normalize.name_key(name)


class AliasForm(forms.ModelForm):
    class Meta:
        model = AgencyAlias
        fields = ["name", "state", "source"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name"):
            self.instance.name_key = alias_name_key(cleaned["name"])
        return cleaned


class AgencyAliasInline(admin.TabularInline):
    model = AgencyAlias
    fields = ["name", "state", "source", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0
    form = AliasForm


class AgreementInline(admin.TabularInline):
    model = Agreement
    fk_name = "agency"
    fields = [
        "model",
        "status",
        "signed_on",
        "signed_raw",
        "moa_url",
        "first_listed_at",
        "last_listed_at",
    ]
    readonly_fields = ["first_listed_at", "last_listed_at"]
    show_change_link = True
    extra = 0
    formfield_overrides = URL_FIELDS


class ModelFilter(admin.SimpleListFilter):
    title = _("agreement model")
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return Agreement._meta.get_field("model").choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(agreements__model=self.value()).distinct()
        return queryset


class MergeForm(forms.Form):
    survivor = forms.ModelChoiceField(
        queryset=Agency.objects.none(),
        widget=forms.RadioSelect,
        label=_("Keep this agency"),
        help_text=_("The others are deleted; their names become aliases of this one."),
    )

    def __init__(self, *args, agencies: QuerySet[Agency], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].queryset = agencies


@admin.register(Agency)
class AgencyAdmin(SimpleHistoryAdmin):
    list_display = [
        "name",
        "state",
        "kind",
        "county_name",
        "county_fips",
        "agreement_count",
        "needs_review",
    ]
    list_filter = ["state", "kind", ModelFilter, "needs_review"]
    search_fields = ["name", "aliases__name", "county_name", "ori"]
    readonly_fields = ["name_key", "near_duplicates", "created_at", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [AgencyAliasInline, AgreementInline]
    actions = ["merge_agencies"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(agreement_count=Count("agreements"))

    @admin.display(description=_("agreements"), ordering="agreement_count")
    def agreement_count(self, agency: Agency) -> int:
        return agency.agreement_count

    @admin.display(description=_("possible duplicates"))
    def near_duplicates(self, agency: Agency) -> str:
        """Same-state agencies with a close name, and a list to select them for a merge."""
        if not agency.pk:
            return "—"
        matches = selectors.agency_near_duplicates(agency)
        if not matches:
            return _("No agency of this state has a close name.")
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({}, {}%)</li>',
            (
                (
                    reverse("admin:agreements_agency_change", args=[other.pk]),
                    other.name,
                    other.county_name or other.state,
                    round(score),
                )
                for other, score in matches
            ),
        )
        ids = ",".join(str(pk) for pk in [agency.pk, *(other.pk for other, _score in matches)])
        return format_html(
            '<ul>{}</ul><p><a href="{}?id__in={}">{}</a></p>',
            items,
            reverse("admin:agreements_agency_changelist"),
            ids,
            _("List them together to select and merge"),
        )

    @admin.action(description=_("Merge selected agencies…"), permissions=["change", "delete"])
    def merge_agencies(self, request: HttpRequest, queryset: QuerySet[Agency]):
        """Ask which agency survives, then fold the others into it."""
        agencies = queryset.order_by("state", "name")
        if agencies.count() < 2:
            self.message_user(request, _("Select at least two agencies to merge."), messages.ERROR)
            return None
        if "confirm" in request.POST:
            form = MergeForm(request.POST, agencies=agencies)
            if form.is_valid():
                survivor = form.cleaned_data["survivor"]
                try:
                    result = agency_merge(
                        survivor=survivor,
                        others=[a for a in agencies if a.pk != survivor.pk],
                        user=request.user,
                    )
                except AgencyMergeError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                    return None
                self.message_user(request, result.summary(), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:agreements_agency_change", args=[survivor.pk])
                )
        else:
            form = MergeForm(agencies=agencies)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Merge agencies"),
            "opts": self.model._meta,
            "form": form,
            "agencies": agencies.prefetch_related("aliases", "agreements"),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action": "merge_agencies",
        }
        return TemplateResponse(request, "admin/agreements/agency/merge.html", context)


class AgreementEventInline(ReadOnlyInline):
    """The agreement's history as derived from ICE's lists (read-only)."""

    model = AgreementEvent
    fields = ["occurred_at", "kind", "field", "old_value", "new_value", "snapshot"]
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("snapshot")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Agreement)
class AgreementAdmin(SimpleHistoryAdmin):
    list_display = ["agency", "model", "status", "signed_on", "first_listed_at", "last_listed_at"]
    list_filter = ["status", "model", "agency__state"]
    search_fields = ["agency__name", "agency__aliases__name"]
    list_select_related = ["agency"]
    autocomplete_fields = ["agency", "predecessor"]
    date_hierarchy = "signed_on"
    formfield_overrides = URL_FIELDS
    readonly_fields = ["listed_in", "created_at", "updated_at"]
    inlines = [AgreementEventInline]

    @admin.display(description=_("listed in"))
    def listed_in(self, agreement: Agreement) -> str:
        """How many ICE files list this agreement, with a link to those rows."""
        if not agreement.pk:
            return "—"
        count = agreement.snapshot_rows.count()
        return format_html(
            '<a href="{}?agreement__id__exact={}">{}</a>',
            reverse("admin:agreements_snapshotrow_changelist"),
            agreement.pk,
            _("%(count)d rows of ICE's lists") % {"count": count},
        )


@admin.register(AgreementEvent)
class AgreementEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "agency", "agreement", "field", "old_value", "new_value"]
    list_filter = ["kind", "agency__state"]
    search_fields = ["agency__name"]
    list_select_related = ["agency", "agreement__agency"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Snapshots ------------------------------------------------------------------


class SnapshotUploadForm(forms.Form):
    file = forms.FileField(
        label=_("ICE spreadsheet (.xlsx)"),
        help_text=_("A participating or pending agencies list as downloaded from ICE."),
    )
    published_at = forms.DateTimeField(
        label=_("Published at"),
        required=False,
        help_text=_(
            "Leave blank to take it from the workbook's metadata or the file name. "
            "Format: 2025-07-11 21:30."
        ),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("Detect from the header")), *ListSnapshot.Kind.choices],
    )


def _warning_cells(warning: dict | str) -> tuple[str, str, str, str]:
    """Row, column, value and message of one importer warning, blanks for what is missing."""
    if not isinstance(warning, dict):
        return "", "", "", str(warning)
    message = warning.get("message") or warning.get("code") or ""
    return (
        warning.get("row") or "",
        warning.get("column") or "",
        warning.get("value") or "",
        message,
    )


@admin.register(ListSnapshot)
class ListSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "published_at",
        "row_count",
        "warning_count",
        "held",
        "imported_at",
    ]
    list_filter = ["kind", "held", "published_at_source", "provenance"]
    actions = ["apply_held"]
    search_fields = ["sha256", "original_filename", "source_url"]
    date_hierarchy = "published_at"
    fields = [
        "kind",
        "held",
        "published_at",
        "published_at_source",
        "dating_table",
        "provenance",
        "original_file",
        "original_filename",
        "filenames_list",
        "source_url",
        "sha256",
        "sheet_name",
        "header_columns",
        "row_count",
        "imported_at",
        "imported_by",
        "warnings_table",
        "rows_table",
    ]
    readonly_fields = fields
    change_list_template = "admin/agreements/listsnapshot/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("imported_by")

    def has_add_permission(self, request):
        # Snapshots come from the upload form below, which runs the importer.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Each version of ICE's list is evidence; it is never deleted here.
        return False

    def has_apply_permission(self, request) -> bool:
        # Applying a list changes the history as an upload does.
        return request.user.has_perm("agreements.add_listsnapshot")

    @admin.action(
        description=_("Apply the selected held lists to the history (they are right)"),
        permissions=["apply"],
    )
    def apply_held(self, request: HttpRequest, queryset) -> None:
        held = list(queryset.filter(held=True))
        for snapshot in held:
            snapshot_release(snapshot, user=request.user)
        if held:
            names = ", ".join(str(s) for s in held)
            self.message_user(request, _("Applied to the history: %s.") % names, messages.SUCCESS)
        else:
            self.message_user(request, _("None of the selected lists was held."), messages.WARNING)

    @admin.display(description=_("warnings"))
    def warning_count(self, snapshot: ListSnapshot) -> int:
        return len(snapshot.warnings or [])

    @admin.display(description=_("original file"))
    def original_file(self, snapshot: ListSnapshot) -> str:
        if not snapshot.file:
            return "—"
        return format_html(
            '<a href="{}" download>{}</a>',
            reverse("agreements:snapshot-file", args=[snapshot.pk]),
            snapshot.original_filename or "file",
        )

    @admin.display(description=_("header"))
    def header_columns(self, snapshot: ListSnapshot) -> str:
        return " | ".join(str(column) for column in snapshot.header or [])

    @admin.display(description=_("dating evidence"))
    def dating_table(self, snapshot: ListSnapshot) -> str:
        """Each clue to the publication time, its verdict and why."""
        evidence = snapshot.published_at_evidence or []
        if not evidence:
            return _("Not recorded (imported before the evidence was kept).")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.get("source", ""),
                    e.get("time") or "",
                    e.get("verdict", ""),
                    e.get("reason", ""),
                )
                for e in evidence
            ),
        )
        return format_html(
            '<table class="snapshot-dating"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("Clue"),
            _("Time"),
            _("Verdict"),
            _("Why"),
            rows,
        )

    @admin.display(description=_("file names"))
    def filenames_list(self, snapshot: ListSnapshot) -> str:
        return ", ".join(snapshot.filenames or [snapshot.original_filename])

    @admin.display(description=_("warnings"))
    def warnings_table(self, snapshot: ListSnapshot) -> str:
        warnings = snapshot.warnings or []
        if not warnings:
            return _("No warnings: every row was read as written.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            (_warning_cells(warning) for warning in warnings),
        )
        return format_html(
            '<table class="snapshot-warnings"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("Row"),
            _("Column"),
            _("Value"),
            _("What was odd"),
            rows,
        )

    @admin.display(description=_("rows"))
    def rows_table(self, snapshot: ListSnapshot) -> str:
        """Every row as ICE wrote it and the agency it was resolved to, in one query."""
        rows = selectors.snapshot_rows(snapshot).values_list(
            "row_number",
            "state",
            "agency_name",
            "model",
            "signed_on",
            "agency_id",
            "agency__name",
            "is_duplicate",
        )
        agency_url = reverse("admin:agreements_agency_change", args=[0]).replace("/0/", "/{}/")
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td><a href="{}">{}</a></td><td>{}</td></tr>',
            (
                (
                    number,
                    state,
                    name,
                    model,
                    signed or "",
                    agency_url.format(agency_id) if agency_id else "#",
                    agency or "—",
                    _("duplicate") if duplicate else "",
                )
                for number, state, name, model, signed, agency_id, agency, duplicate in rows
            ),
        )
        changelist = reverse("admin:agreements_snapshotrow_changelist")
        return format_html(
            '<p><a href="{}?snapshot__id__exact={}">{}</a></p>'
            '<table class="snapshot-rows"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{}</tbody></table>",
            changelist,
            snapshot.pk,
            _("Search and filter these rows"),
            _("Row"),
            _("State"),
            _("Agency as written"),
            _("Model"),
            _("Signed"),
            _("Resolved to"),
            body,
        )

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="agreements_listsnapshot_upload",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_upload": request.user.has_perm("agreements.add_listsnapshot"),
        }
        return super().changelist_view(request, extra_context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload an ICE file: the same import as ``manage.py import_ice_sheet``."""
        if not request.user.has_perm("agreements.add_listsnapshot"):
            raise PermissionDenied
        form = SnapshotUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = snapshot_import(
                    file=upload,
                    filename=upload.name,
                    published_at=form.cleaned_data["published_at"],
                    kind=form.cleaned_data["kind"] or None,
                    imported_by=request.user,
                )
            except SnapshotImportError as exc:
                form.add_error("file", str(exc))
            else:
                if result.created:
                    level = messages.WARNING if result.held else messages.SUCCESS
                    self.message_user(request, result.summary(), level)
                else:
                    self.message_user(
                        request,
                        _("This file was already imported; nothing changed. %(summary)s")
                        % {"summary": result.summary()},
                        messages.WARNING,
                    )
                return HttpResponseRedirect(
                    reverse("admin:agreements_listsnapshot_change", args=[result.snapshot.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Upload an ICE list"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/agreements/listsnapshot/upload.html", context)


@admin.register(SnapshotRow)
class SnapshotRowAdmin(admin.ModelAdmin):
    list_display = [
        "snapshot",
        "row_number",
        "state",
        "agency_name",
        "model",
        "signed_on",
        "agency",
    ]
    list_filter = ["snapshot__kind", "model", "is_duplicate", "state"]
    search_fields = ["agency_name"]
    list_select_related = ["snapshot", "agency"]
    raw_id_fields = ["snapshot", "agency", "agreement"]
    readonly_fields = [f.name for f in SnapshotRow._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Identity -------------------------------------------------------------------


class IdentityRuleForm(forms.ModelForm):
    class Meta:
        model = IdentityRule
        fields = ["state", "name_a", "name_b", "decision", "note"]

    def clean(self):
        cleaned = super().clean()
        a, b = normalize.name_key(cleaned.get("name_a")), normalize.name_key(cleaned.get("name_b"))
        if a and a == b:
            raise forms.ValidationError(
                _("These two names are the same spelling, and always one agency.")
            )
        return cleaned


@admin.register(IdentityRule)
class IdentityRuleAdmin(admin.ModelAdmin):
    """A curator's same/distinct decisions; saving or deleting one re-applies its state's grouping."""

    form = IdentityRuleForm
    list_display = ["name_a", "name_b", "state", "decision", "decided_by", "updated_at"]
    list_filter = ["decision", "state"]
    search_fields = ["name_a", "name_b", "note"]
    actions = ["download_csv"]

    def save_model(self, request, obj, form, change):
        try:
            saved = identity_rule_set(
                state=obj.state, name_a=obj.name_a, name_b=obj.name_b, decision=obj.decision,
                user=request.user, note=obj.note,
            )  # fmt: skip
        except IdentityRuleError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        if change and saved.pk != obj.pk:
            IdentityRule.objects.filter(pk=obj.pk).delete()  # the names were edited: a new pair
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        identity_apply(states={obj.state})

    def delete_queryset(self, request, queryset):
        states = set(queryset.values_list("state", flat=True))
        super().delete_queryset(request, queryset)
        identity_apply(states=states)

    @admin.action(description=_("Download the selected rules as CSV"))
    def download_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="identity-rules.csv"'
        writer = csv.writer(response)
        writer.writerow(
            ["state", "name_a", "name_b", "decision", "note", "decided_by", "updated_at"]
        )
        for rule in queryset.select_related("decided_by").order_by("state", "name_a", "name_b"):
            writer.writerow(
                [rule.state, rule.name_a, rule.name_b, rule.decision, rule.note,
                 rule.decided_by or "", rule.updated_at.isoformat()]
            )  # fmt: skip
        return response


@admin.register(PossibleRename)
class PossibleRenameAdmin(admin.ModelAdmin):
    """Renames the lists suggest but do not prove: a curator settles each one as a rule."""

    list_display = ["old_name", "new_name", "state", "model", "signed_on", "snapshot"]
    list_filter = ["state", "model"]
    search_fields = ["old_name", "new_name"]
    actions = ["settle_same", "settle_distinct"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("agreements.add_identityrule")

    @admin.action(description=_("Same agency: the name changed"), permissions=["settle"])
    def settle_same(self, request: HttpRequest, queryset) -> None:
        self._settle(request, queryset, IdentityRule.Decision.SAME)

    @admin.action(description=_("Different agencies: one ended"), permissions=["settle"])
    def settle_distinct(self, request: HttpRequest, queryset) -> None:
        self._settle(request, queryset, IdentityRule.Decision.DISTINCT)

    def _settle(self, request: HttpRequest, queryset, decision: str) -> None:
        settled = 0
        for possible in list(queryset):
            identity_rule_set(
                state=possible.state, name_a=possible.old_name, name_b=possible.new_name,
                decision=decision, user=request.user,
            )  # fmt: skip
            settled += 1
        self.message_user(
            request, _("%d possible renames settled as rules.") % settled, messages.SUCCESS
        )
