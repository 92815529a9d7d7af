"""The one reading of a day in a query string, shared by every filter, form and API route.

A day is written YYYY-MM-DD and must lie in ``FIRST_DAY``..``LAST_DAY``: the
selectors add or take a day to make a day's bounds, which a day at either end
of Python's calendar (0001-01-01, 9999-12-31) cannot take. Text fields need no
help here: Django's ``CharField`` already refuses NUL characters, which
PostgreSQL cannot store or compare.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
DAY_FORMAT = "%Y-%m-%d"
DAY_ERROR = _("Write the date as YYYY-MM-DD, for example 2025-07-01.")
RANGE_ERROR = _("Give a day between %(first)s and %(last)s.") % {
    "first": FIRST_DAY.isoformat(),
    "last": LAST_DAY.isoformat(),
}


class DayField(forms.DateField):
    """A day written YYYY-MM-DD, between ``FIRST_DAY`` and ``LAST_DAY``."""

    default_error_messages = {"invalid": DAY_ERROR}
    default_validators = [
        MinValueValidator(FIRST_DAY, message=RANGE_ERROR),
        MaxValueValidator(LAST_DAY, message=RANGE_ERROR),
    ]

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [DAY_FORMAT])
        super().__init__(**kwargs)


class DayFilter(django_filters.DateFilter):
    """A django-filter date filter read by ``DayField``."""

    field_class = DayField


# The largest id a database row can have (a 64-bit signed integer): a bigger
# number would overflow SQLite's integers before it could simply match nothing.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """The row id written in ``text`` (ASCII digits, in range), or None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number from 1 to ``MAX_ID``."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    def get_max_validator(self) -> None:
        return None  # the field's own max_value bounds it
