"""Curators moderate public notes here: the queue, the flags, approve or reject, history.

A private note is its author's alone: no list, page or history here shows
another person's private note, administrators included. Notes are written
on the document pages, never here; approving and rejecting go through
``research.services.annotations.review_annotation`` like everywhere else.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import Http404
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from portal.admin_common import QueueFilter, ReadOnlyInline
from research import policy
from research.models import Annotation, AnnotationFlag
from research.services.annotations import AnnotationRefused, review_annotation


class ModerationQueueFilter(QueueFilter):
    """Opens on the queue: public notes waiting for a curator, flagged ones first."""

    title = _("queue")
    parameter_name = "queue"
    default = "pending"

    def lookups(self, request, model_admin):
        return [
            ("pending", _("Public, waiting for a curator")),
            ("flagged", _("Flagged, not yet reviewed")),
            ("all", _("All notes")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(
                visibility=Annotation.Visibility.PUBLIC, review=Annotation.Review.PENDING
            )
        if self.value() == "flagged":
            return queryset.filter(open_flags__gt=0)
        return queryset


class AnnotationFlagInline(ReadOnlyInline):
    model = AnnotationFlag
    fields = ["user", "reason", "created_at", "resolved"]
    verbose_name = _("flag")


class AnnotationAdmin(SimpleHistoryAdmin):
    list_display = [
        "quote",
        "document",
        "author",
        "visibility",
        "review",
        "flags_open",
        "anchor",
        "created_at",
    ]
    list_display_links = ["quote"]
    list_filter = [ModerationQueueFilter, "visibility", "review", "anchor", "tags"]
    search_fields = ["exact", "body", "author__username", "document__title"]
    list_select_related = ["document", "author"]
    list_per_page = 50
    actions = ["approve", "reject"]
    inlines = [AnnotationFlagInline]
    fields = [
        "document",
        "author",
        "exact",
        "body",
        "tags",
        "visibility",
        "review",
        "reviewed_by",
        "reviewed_at",
        "page",
        "start",
        "end",
        "anchor",
        "carried_from",
        "previous_exact",
        "created_at",
        "updated_at",
    ]
    # Curators judge notes, they do not rewrite them: the author changes their words.
    readonly_fields = fields

    def get_queryset(self, request):
        # Counted before ordering: the queue puts the most flagged notes first.
        notes = Annotation.objects.exclude(policy.annotations_kept_from(request.user)).annotate(
            open_flags=Count("flags", filter=Q(flags__resolved=False))
        )
        return notes.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ["-open_flags", "created_at", "pk"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_moderate_permission(self, request) -> bool:
        return policy.can_moderate_annotations(request.user)

    @admin.display(description=_("quote"))
    def quote(self, obj: Annotation) -> str:
        return Truncator(" ".join(obj.exact.split())).chars(80)

    @admin.display(description=_("open flags"), ordering="open_flags")
    def flags_open(self, obj: Annotation) -> int:
        return obj.open_flags

    def _review(self, request, queryset, *, approve: bool) -> None:
        done = 0
        for note in queryset:
            try:
                review_annotation(note, request.user, approve=approve)
            except AnnotationRefused as refusal:
                self.message_user(request, f"{note}: {refusal}", messages.ERROR)
            else:
                done += 1
        if done:
            sentence = (
                ngettext("%(n)d note approved.", "%(n)d notes approved.", done)
                if approve
                else ngettext("%(n)d note rejected.", "%(n)d notes rejected.", done)
            )
            self.message_user(request, sentence % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Approve the selected notes"), permissions=["moderate"])
    def approve(self, request, queryset):
        self._review(request, queryset, approve=True)

    @admin.action(description=_("Reject the selected notes"), permissions=["moderate"])
    def reject(self, request, queryset):
        self._review(request, queryset, approve=False)

    # simple_history reads the history without this admin's queryset: refuse here
    # what get_queryset leaves out, also for a note since deleted.
    def _refuse_hidden(self, request, object_id) -> None:
        try:
            pk = int(object_id)
        except ValueError as exc:
            raise Http404(_("No note you may see at this address.")) from exc
        latest = Annotation.history.filter(id=pk).order_by("-history_date").first()
        if (
            latest is not None
            and Annotation.history.filter(
                policy.annotations_kept_from(request.user), history_id=latest.history_id
            ).exists()
        ):
            raise Http404(_("No note you may see at this address."))

    def history_view(self, request, object_id, extra_context=None):
        self._refuse_hidden(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._refuse_hidden(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)
