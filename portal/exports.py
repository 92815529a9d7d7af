"""CSV and JSON downloads: the one helper every listing uses.

A listing page that can be downloaded does, after building its filtered queryset::

    from portal.exports import Column, export_response, requested_format

    if fmt := requested_format(request):
        return export_response(fmt, rows=queryset.iterator(chunk_size=2000),
                               columns=COLUMNS, filename="agencies", meta={...})

and links to ``export_links(request)`` (the page's own URL with ``format=csv`` or
``format=json`` added), so a download carries exactly the filters of the page and
every URL is a permalink. Search results (``research:search``) use the same
``export_response`` with their hits as rows.

Both formats stream, so a download of the whole history never sits in memory.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
# What starts a formula in a spreadsheet, also after leading white space and in
# full-width or small forms (NFKC reads "＝" and "﹦" as "=").
FORMULA_STARTS = frozenset("=+-@")


@dataclass(frozen=True)
class Column:
    """One column: its header and how to read it from a row.

    ``value`` is a dotted attribute/key path (``"agency.name"``) or a callable.
    """

    name: str
    value: str | Callable[[Any], Any] | None = None

    def read(self, row: Any) -> Any:
        getter = self.value or self.name
        if callable(getter):
            return getter(row)
        for part in getter.split("."):
            if row is None:
                return None
            row = row.get(part) if isinstance(row, Mapping) else getattr(row, part, None)
        return row() if callable(row) else row


def requested_format(request: HttpRequest) -> str | None:
    """ "csv" or "json" when the query string asks for a download, else None."""
    fmt = request.GET.get("format", "").lower()
    return fmt if fmt in FORMATS else None


def export_links(request: HttpRequest) -> dict[str, str]:
    """The current page's URL with ``format`` set, for each download format."""
    query = request.GET.copy()  # a deep copy: once, not once a format
    query.pop("page", None)
    query.pop("format", None)
    encoded = query.urlencode()
    start = f"{request.path}?{encoded}&" if encoded else f"{request.path}?"
    return {fmt: f"{start}format={fmt}" for fmt in FORMATS}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (or a control prefix)."""
    if text[:1] in ("\t", "\r", "\n"):
        return True
    head = unicodedata.normalize("NFKC", text.lstrip()[:1])[:1]
    return head in FORMULA_STARTS


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    value = _json_value(value)
    text = str(value)
    # A cell starting with "=" is a formula to a spreadsheet: keep it text.
    if isinstance(value, str) and _formula_like(text):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Any], columns: Sequence[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([c.name for c in columns])  # BOM: Excel reads UTF-8
    for row in rows:
        yield writer.writerow([_csv_value(c.read(row)) for c in columns])


def _json_chunks(
    rows: Iterable[Any], columns: Sequence[Column], meta: Mapping[str, Any]
) -> Iterator[str]:
    yield '{"meta": ' + json.dumps({k: _json_value(v) for k, v in meta.items()}) + ', "results": ['
    first = True
    for row in rows:
        item = {c.name: _json_value(c.read(row)) for c in columns}
        yield ("" if first else ",\n") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "]}\n"


def export_response(
    fmt: str,
    *,
    rows: Iterable[Any],
    columns: Sequence[Column | str],
    filename: str,
    meta: Mapping[str, Any] | None = None,
) -> StreamingHttpResponse:
    """Stream ``rows`` as a CSV or JSON attachment named ``<filename>-<date>.<fmt>``.

    JSON is ``{"meta": {...}, "results": [{column: value}, ...]}``; ``meta`` says
    where the figures come from (snapshot sha256, filters); CSV has one header row.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown download format {fmt!r}: use csv or json.")
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    generated = timezone.now()
    meta = {"generated_at": generated, **(meta or {})}
    body = _csv_lines(rows, cols) if fmt == "csv" else _json_chunks(rows, cols, meta)
    response = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    name = f"{slugify(filename) or 'export'}-{generated:%Y-%m-%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
