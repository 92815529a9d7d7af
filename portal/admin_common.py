"""Admin pieces the apps' admin modules share: the queue filter, the read-only inline."""

from __future__ import annotations

from django.contrib import admin


class QueueFilter(admin.SimpleListFilter):
    """Opens on ``default`` (the work waiting); "all" is one of the lookups, not Django's extra.

    Subclasses give ``title``, ``parameter_name``, ``default``, ``lookups`` and ``queryset``.
    """

    default: str = ""

    def value(self):
        return super().value() or self.default

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class ReadOnlyInline(admin.TabularInline):
    """Rows shown beside their parent, every field read-only; none added or deleted here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False
