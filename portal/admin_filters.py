"""List filters that the admin modules share."""

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
