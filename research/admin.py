"""Curators review documents here: the queue, text preview, agency links, actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from portal.admin_common import QueueFilter, ReadOnlyInline
from research.annotation_admin import AnnotationAdmin
from research.models import (
    Annotation,
    Document,
    DocumentAgency,
    DocumentAgreement,
    DocumentURL,
    Feed,
    Tag,
)
from research.services.feeds import feed_poll
from research.services.ingest import IngestError, document_submit
from research.services.linking import document_agency_add, document_agency_review
from research.services.review import (
    ReviewError,
    document_publish,
    document_reextract,
    document_reject,
    document_relink,
)

PREVIEW_CHARS = 2000
# Django 6 assumes https for scheme-less URLs; say so now (and silence the warning).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class ReviewQueueFilter(QueueFilter):
    """Opens on the review queue; curators switch to other statuses or to all."""

    title = _("queue")
    parameter_name = "queue"
    default = "review"

    def lookups(self, request, model_admin):
        return [
            ("review", _("Needs review")),
            ("failed", _("Failed")),
            ("processing", _("Queued or fetching")),
            ("all", _("All documents")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "review" and "status__exact" not in request.GET:
            return queryset.filter(status=Document.Status.NEEDS_REVIEW)
        if value == "failed":
            return queryset.filter(status=Document.Status.FAILED)
        if value == "processing":
            return queryset.filter(status__in=[Document.Status.QUEUED, Document.Status.FETCHING])
        return queryset


class DocumentAgencyInline(admin.TabularInline):
    model = DocumentAgency
    extra = 0
    fields = ["agency", "status", "method", "confidence", "passage", "reviewed_by"]
    readonly_fields = ["method", "confidence", "passage", "reviewed_by"]
    raw_id_fields = ["agency"]
    ordering = ["status", "-confidence"]
    verbose_name = _("agency link")
    verbose_name_plural = _("agency links (confirm or reject the suggestions)")


class DocumentAgreementInline(admin.TabularInline):
    model = DocumentAgreement
    extra = 0
    raw_id_fields = ["agreement"]
    readonly_fields = ["evidence_row"]


class DocumentURLInline(ReadOnlyInline):
    formfield_overrides = URL_FIELDS
    model = DocumentURL
    fields = ["url", "created_at"]


class DocumentSubmitForm(forms.Form):
    """A URL or a file, with what the curator already knows about it."""

    url = forms.URLField(label=_("URL"), required=False, max_length=2000, assume_scheme="https")
    upload = forms.FileField(label=_("or a file (PDF or HTML)"), required=False)
    kind = forms.ChoiceField(label=_("kind"), choices=Document.Kind.choices)
    rights = forms.ChoiceField(
        label=_("rights"),
        choices=[("", _("Decide later (copyrighted until set)")), *Document.Rights.choices],
        required=False,
    )
    title = forms.CharField(label=_("title"), required=False, max_length=500)

    def clean(self):
        data = super().clean()
        if bool(data.get("url")) == bool(data.get("upload")):
            raise ValidationError(_("Give either a URL or a file, not both and not neither."))
        return data


class LinesField(forms.CharField):
    """A list of strings edited one per line, so an empty list is an empty box, not "[]"."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class DocumentAdminForm(forms.ModelForm):
    authors = LinesField(label=_("authors"), required=False, help_text=_("One per line."))
    guesses_checked = forms.BooleanField(
        label=_("The guessed fields are right"),
        required=False,
        help_text=_("Tick to settle every guessed field as it stands; editing one settles it too."),
    )

    class Meta:
        model = Document
        fields = ["authors"]  # the admin adds the rest of its fieldsets


def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {} or value == "—"


@admin.register(Document)
class DocumentAdmin(SimpleHistoryAdmin):
    form = DocumentAdminForm
    formfield_overrides = URL_FIELDS
    list_display = [
        "display_title",
        "kind",
        "status",
        "rights",
        "published_on",
        "suggestions",
        "short_status_message",
        "created_at",
    ]
    list_filter = [ReviewQueueFilter, "status", "kind", "rights", "needs_ocr", "feed", "tags"]
    search_fields = ["title", "canonical_url", "publisher", "urls__url"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    list_per_page = 50
    autocomplete_fields = ["tags"]
    actions = ["publish", "reject", "reextract", "relink"]
    inlines = [DocumentAgencyInline, DocumentAgreementInline, DocumentURLInline]
    readonly_fields = [
        "status",
        "status_message",
        "error_code",
        "duplicate_of",
        "feed",
        "text_preview",
        "original_file",
        "sha256",
        "content_type",
        "size",
        "needs_ocr",
        "page_count",
        "guessed",
        "file_created_on",
        "file_modified_on",
        "attempts",
        "submitted_by",
        "created_at",
        "updated_at",
        "fetched_at",
        "status_changed_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "status",
                    "status_message",
                    "duplicate_of",
                    "guessed",
                    "guesses_checked",
                    "title",
                    "kind",
                    "rights",
                    "tags",
                ]
            },
        ),
        (
            _("Source"),
            {
                "fields": [
                    "canonical_url",
                    "source_url",
                    "publisher",
                    "authors",
                    "published_on",
                    "language",
                    "feed",
                ]
            },
        ),
        (_("Text"), {"fields": ["summary", "text_preview", "needs_ocr", "page_count"]}),
        (
            _("File and processing"),
            {
                "classes": ["collapse"],
                "fields": [
                    "original_file",
                    "sha256",
                    "content_type",
                    "size",
                    "file_created_on",
                    "file_modified_on",
                    "attempts",
                    "error_code",
                    "submitted_by",
                    "created_at",
                    "updated_at",
                    "fetched_at",
                    "status_changed_at",
                ],
            },
        ),
    ]
    change_list_template = "admin/research/document/change_list.html"
    change_form_template = "admin/research/document/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_suggestions=Count(
                    "agency_links",
                    filter=Q(agency_links__status=DocumentAgency.Status.SUGGESTED),
                )
            )
        )

    def get_fieldsets(self, request, obj=None):
        """Leave out what has no value: a review page of "—" and "[]" hides what matters."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        editable: set[str] = set()
        if self.has_change_permission(request, obj):
            readonly = set(self.get_readonly_fields(request, obj))
            editable = set(flatten_fieldsets(fieldsets)) - readonly - {"guesses_checked"}
        kept = []
        for name, options in fieldsets:
            fields = [f for f in options["fields"] if f in editable or not self._empty_on(obj, f)]
            if fields:
                kept.append((name, {**options, "fields": fields}))
        return kept

    def _empty_on(self, obj: Document, field: str) -> bool:
        if field == "guesses_checked":
            return not obj.guessed
        if field == "text_preview":
            return False  # it says "No text extracted yet", which a curator needs to see
        display = getattr(self, field, None)
        if callable(display) and hasattr(display, "short_description"):
            return _is_empty(display(obj))
        value = getattr(obj, field, None)
        if hasattr(value, "all"):  # a many-to-many manager
            return not value.exists()
        return _is_empty(value) or (hasattr(value, "name") and not value)  # a FieldFile

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("guesses_checked"):
            obj.guessed_fields = None
        elif obj.guessed:
            obj.guessed_fields = sorted(set(obj.guessed) - set(form.changed_data)) or None
        super().save_model(request, obj, form, change)

    @admin.display(description=_("guessed, please check"))
    def guessed(self, obj: Document) -> str:
        names = [str(Document._meta.get_field(name).verbose_name) for name in obj.guessed]
        return ", ".join(names) if names else "—"

    @admin.display(description=_("title"), ordering="title")
    def display_title(self, obj: Document) -> str:
        return Truncator(str(obj)).chars(90)

    @admin.display(description=_("open suggestions"), ordering="open_suggestions")
    def suggestions(self, obj: Document) -> int:
        return getattr(obj, "open_suggestions", 0)

    @admin.display(description=_("status message"))
    def short_status_message(self, obj: Document) -> str:
        return Truncator(obj.status_message).chars(80)

    @admin.display(description=_("text preview"))
    def text_preview(self, obj: Document) -> str:
        if not obj.text:
            return _("No text extracted yet.")
        preview = obj.text[:PREVIEW_CHARS]
        more = len(obj.text) - len(preview)
        tail = _(" … and %(n)s more characters.") % {"n": f"{more:,}"} if more > 0 else ""
        # format_html escapes the document's text: it is untrusted input.
        return format_html(
            '<pre class="document-preview" style="white-space: pre-wrap; max-height: 30em; '
            'overflow: auto;">{}</pre>{}',
            preview,
            tail,
        )

    @admin.display(description=_("original file"))
    def original_file(self, obj: Document) -> str:
        if not obj.file:
            return "—"
        return format_html('<a href="{}">{}</a>', obj.file.url, obj.file.name)

    @admin.display(description=_("pages"))
    def page_count(self, obj: Document) -> int | str:
        return len(obj.page_offsets) or "—"

    # --- Saving: curators' link decisions go through the linking services. ----

    def save_formset(self, request, form, formset, change):
        if formset.model is not DocumentAgency:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for link in formset.deleted_objects:
            link.delete()
        for link in formset.new_objects:
            document_agency_add(document=form.instance, agency=link.agency, user=request.user)
        for link, changed in formset.changed_objects:
            if "agency" in changed:
                link.method = DocumentAgency.Method.MANUAL
                link.save()
            document_agency_review(link=link, status=link.status, user=request.user)

    # --- Actions ---------------------------------------------------------------

    def _run(self, request, queryset, service, done: str) -> None:
        ok, errors = 0, []
        for document in queryset:
            try:
                service(document=document, user=request.user)
            except ReviewError as exc:
                errors.append(str(exc))
            else:
                ok += 1
        if ok:
            self.message_user(request, done % {"n": ok}, messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    @admin.action(description=_("Publish the selected documents"))
    def publish(self, request, queryset):
        self._run(request, queryset, document_publish, _("%(n)s document(s) published."))

    @admin.action(description=_("Reject the selected documents"))
    def reject(self, request, queryset):
        self._run(request, queryset, document_reject, _("%(n)s document(s) rejected."))

    @admin.action(description=_("Re-extract (fetch and extract again)"))
    def reextract(self, request, queryset):
        self._run(
            request, queryset, document_reextract, _("%(n)s document(s) queued for extraction.")
        )

    @admin.action(description=_("Re-link agencies (suggest links again)"))
    def relink(self, request, queryset):
        self._run(
            request, queryset, document_relink, _("Agencies re-linked for %(n)s document(s).")
        )

    # --- Per-document buttons and the submit view -------------------------------

    def response_change(self, request, obj):
        buttons = {
            "_publish": (document_publish, _("Published.")),
            "_reject": (document_reject, _("Rejected.")),
            "_reextract": (document_reextract, _("Queued for extraction.")),
            "_relink": (document_relink, _("Agencies re-linked.")),
        }
        for name, (service, done) in buttons.items():
            if name in request.POST:
                try:
                    service(document=obj, user=request.user)
                except ReviewError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        # Documents come in one way only: through document_submit.
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:research_document_submit"))

    def get_urls(self):
        submit = path(
            "submit/",
            self.admin_site.admin_view(self.submit_view),
            name="research_document_submit",
        )
        return [submit, *super().get_urls()]

    def submit_view(self, request: HttpRequest):
        """Submit a URL or upload a file: the same ``document_submit`` as everywhere."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DocumentSubmitForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data.get("upload")
            try:
                document = document_submit(
                    url=data.get("url") or "",
                    upload=upload,
                    filename=upload.name if upload else "",
                    kind=data["kind"],
                    rights=data.get("rights") or None,
                    title=data.get("title") or "",
                    submitted_by=request.user,
                )
            except IngestError as exc:
                form.add_error(None, exc.message)
            else:
                if document.status == Document.Status.QUEUED:
                    done = _("“%(doc)s” is queued: it will be fetched, extracted and linked.")
                else:
                    done = _("“%(doc)s” was already in the portal (status: %(status)s).")
                status = document.get_status_display().lower()
                self.message_user(
                    request, done % {"doc": document, "status": status}, messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:research_document_change", args=[document.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Submit a document"),
            "form": form,
        }
        return TemplateResponse(request, "admin/research/document/submit.html", context)


@admin.register(DocumentAgency)
class DocumentAgencyAdmin(admin.ModelAdmin):
    """Every suggested link across documents, to confirm or reject in bulk."""

    list_display = ["document", "agency", "status", "method", "confidence", "passage_short"]
    list_filter = ["status", "method", "agency__state"]
    search_fields = ["document__title", "agency__name"]
    raw_id_fields = ["document", "agency"]
    readonly_fields = [
        "method",
        "confidence",
        "passage",
        "evidence_row",
        "reviewed_by",
        "created_at",
    ]
    ordering = ["status", "-confidence"]
    actions = ["confirm", "reject"]

    @admin.display(description=_("passage"))
    def passage_short(self, obj: DocumentAgency) -> str:
        return Truncator(obj.passage).chars(120)

    def _review(self, request, queryset, status: str) -> None:
        n = 0
        for link in queryset:
            document_agency_review(link=link, status=status, user=request.user)
            n += 1
        self.message_user(
            request, ngettext("%(n)d link %(s)s.", "%(n)d links %(s)s.", n) % {"n": n, "s": status}
        )

    @admin.action(description=_("Confirm the selected links"))
    def confirm(self, request, queryset):
        self._review(request, queryset, DocumentAgency.Status.CONFIRMED)

    @admin.action(description=_("Reject the selected links"))
    def reject(self, request, queryset):
        self._review(request, queryset, DocumentAgency.Status.REJECTED)


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = ["__str__", "url", "default_kind", "active", "last_polled_at", "error"]
    list_filter = ["active", "default_kind"]
    search_fields = ["url", "title"]
    readonly_fields = ["etag", "last_modified", "last_polled_at", "last_error", "created_at"]
    actions = ["poll_now"]

    @admin.display(description=_("last error"))
    def error(self, obj: Feed) -> str:
        return Truncator(obj.last_error).chars(80)

    @admin.action(description=_("Poll the selected feeds now"))
    def poll_now(self, request, queryset):
        for feed in queryset:
            result = feed_poll(feed=feed)
            level = messages.ERROR if result.error else messages.SUCCESS
            self.message_user(request, result.summary(), level)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


admin.site.register(Annotation, AnnotationAdmin)
