"""The search page: a thin view over :func:`research.search.selectors.search`."""

from __future__ import annotations

import dataclasses
import functools
import html
from collections.abc import Iterator
from urllib.parse import quote_plus, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.dates import MONTHS
from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from portal.exports import Column, export_links, export_response, requested_format
from research import policy
from research.search.selectors import FACETS, MAX_PAGE, Hit, SearchResults, search

FACET_TITLES = {
    "type": "Type",
    "kind": "Document kind",
    "state": "State",
    "model": "Model of agreement",
    "year": "Year",
    "tag": "Tag",
    "publisher": "Publisher",
}
MAX_QUERY_PARAM = 1000
EXPORT_PAGE_SIZE = 100
EXPORT_MAX_PAGES = 10  # a download holds the first 1,000 results


def _plain(value: str) -> str:
    return html.unescape(strip_tags(value))


EXPORT_COLUMNS = [
    Column("type"),
    Column("title"),
    Column("url"),
    Column("date"),
    Column("kind"),
    Column("publisher"),
    Column("states", lambda hit: " ".join(hit.states)),
    Column("excerpt", lambda hit: _plain(hit.snippet)),
    Column("author"),
    Column("quote"),
]


class QueryState:
    """The page's parameters, to build permalinks that change one thing at a time."""

    def __init__(self, results: SearchResults, requested_sort: str):
        self.q = results.raw_query
        self.filters = results.filters
        self.sort = requested_sort if requested_sort in {"relevance", "date"} else ""
        self._around: dict[str, tuple[str, str]] = {}

    def _pairs(self, filters, sort: str, page: int) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for name in FACETS:
            pairs += [(name, value) for value in filters.get(name, [])]
        if sort and sort != "relevance":
            pairs.append(("sort", sort))
        if page > 1:
            pairs.append(("page", str(page)))
        return pairs

    def url(self, *, filters=None, sort=None, page: int = 1) -> str:
        filters = self.filters if filters is None else filters
        sort = self.sort if sort is None else sort
        pairs = self._pairs(filters, sort, page)
        return "?" + urlencode(pairs) if pairs else "?"

    def toggle(self, name: str, value: str) -> str:
        """The first page with ``value`` of facet ``name`` selected, or unselected if it was."""
        values = self.filters.get(name, [])
        if value in values:
            return self.url(filters={**self.filters, name: [v for v in values if v != value]})
        # Adding a value: the same query string as url() would give, but only the
        # new value is encoded (a page has dozens of facet links, each a full urlencode).
        if name not in self._around:
            pairs = self._pairs(self.filters, self.sort, 1)
            cut = sum(
                1 for key, _ in pairs if key == "q" or key in FACETS[: FACETS.index(name) + 1]
            )
            head, tail = urlencode(pairs[:cut]), urlencode(pairs[cut:])
            self._around[name] = (
                f"?{head}{'&' if head else ''}{quote_plus(name)}=",
                f"&{tail}" if tail else "",
            )
        before, after = self._around[name]
        return before + _quoted(value) + after


@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    """A facet value in a query string: the same few hundred values on every page."""
    return quote_plus(value)


def _all_hits(request: HttpRequest, raw: str, sort: str) -> Iterator[Hit]:
    for page in range(1, EXPORT_MAX_PAGES + 1):
        results = search(
            raw,
            filters=request.GET,
            sort=sort,
            page=page,
            user=request.user,
            page_size=EXPORT_PAGE_SIZE,
        )
        for hit in results.hits:
            yield dataclasses.replace(hit, url=request.build_absolute_uri(hit.url))
        if not results.has_next:
            return


_SELECTED = ' aria-current="true" class="selected"'


def _escape(value) -> str:
    """What ``django.utils.html.escape`` does, without its check for lazy strings
    (a few hundred calls a page)."""
    return html.escape(str(value))


@functools.lru_cache(maxsize=4096)
def _escaped_name(value: str) -> str:
    """A label, publisher or list of states, escaped: the same few thousand on every page."""
    return html.escape(value)


def _query_href(url: str) -> str:
    """A URL of :class:`QueryState`, escaped for an attribute: every name and value
    in it is percent-encoded, so only the ampersands between them need escaping."""
    return url.replace("&", "&amp;")


def _facet_items(state: QueryState, name: str, values) -> SafeString:
    """A facet's list items, built here: a page has about a hundred links, too many
    to render through the template or ``format_html`` cheaply; every value is
    escaped as the template would."""
    items = []
    for value in values:
        box, selected = ("☑", _SELECTED) if value.selected else ("☐", "")
        items.append(
            f'<li><a href="{_query_href(state.toggle(name, value.value))}"{selected}>'
            f'<span class="facet-box" aria-hidden="true">{box}</span> {_escaped_name(value.label)}'
            f' <span class="count">({int(value.count)})</span></a></li>'
        )
    return mark_safe("\n".join(items))  # noqa: S308 - every value is escaped above


@functools.cache
def _month_names(language: str | None) -> tuple[str, ...]:
    return ("", *(str(MONTHS[month]) for month in range(1, 13)))


def _hit_items(hits: list[Hit]) -> SafeString:
    """The result list's items, built here like the facets' (the template engine is
    the larger part of a page's time); every value is escaped as the template would."""
    months = _month_names(translation.get_language())
    items = []
    for hit in hits:
        if hit.type == "note":
            items.append(_note_item(hit, months))
            continue
        meta = ["Agency" if hit.type == "agency" else _escaped_name(hit.kind_label)]
        if hit.publisher:
            meta.append(_escaped_name(hit.publisher))
        if hit.date:
            label = f"{months[hit.date.month]} {hit.date.day}, {hit.date.year}"
            meta.append(f'<time datetime="{hit.date.isoformat()}">{label}</time>')
        if hit.states:
            meta.append(_escaped_name(", ".join(hit.states)))
        if hit.agreements is not None:
            meta.append(f"{hit.agreements} agreement{'' if hit.agreements == 1 else 's'}")
        snippet = f'\n  <p class="snippet">{hit.snippet}</p>' if hit.snippet else ""
        items.append(
            f'<li class="hit hit-{_escaped_name(hit.type)}">\n'
            f'  <h3><a href="{_escape(hit.url)}">{hit.title_html}</a></h3>\n'
            f'  <p class="muted">{" · ".join(meta)}</p>{snippet}\n'
            "</li>"
        )
    return mark_safe("\n".join(items))  # noqa: S308 - every value is escaped above


def _note_item(hit: Hit, months: tuple[str, ...]) -> str:
    """A note's list item: the document it is on, who wrote it, its passage and body."""
    meta = [f"Note ({_escape(hit.kind_label)})", f"by {_escape(hit.author)}"]
    label = f"{months[hit.date.month]} {hit.date.day}, {hit.date.year}"
    meta.append(f'<time datetime="{hit.date.isoformat()}">{label}</time>')
    if hit.tags:
        meta.append("Tags: " + _escape(", ".join(hit.tags)))
    quote = f'\n  <blockquote class="quote">{_escape(hit.quote)}</blockquote>' if hit.quote else ""
    snippet = f'\n  <p class="snippet">{hit.snippet}</p>' if hit.snippet else ""
    return (
        '<li class="hit hit-note">\n'
        f'  <h3><a href="{_escape(hit.url)}">Note on {hit.title_html}</a></h3>\n'
        f'  <p class="muted">{" · ".join(meta)}</p>{quote}{snippet}\n'
        "</li>"
    )


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Search documents, agencies and notes; every state of the page is a permalink."""
    raw = request.GET.get("q", "")[:MAX_QUERY_PARAM]
    requested_sort = request.GET.get("sort", "relevance")
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=_all_hits(request, raw, requested_sort),
            columns=EXPORT_COLUMNS,
            filename="search",
            meta={
                "query": raw,
                "sort": requested_sort,
                "limit": EXPORT_PAGE_SIZE * EXPORT_MAX_PAGES,
            },
        )
    results = search(
        raw,
        filters=request.GET,
        sort=requested_sort,
        page=request.GET.get("page", 1),
        user=request.user,
    )
    state = QueryState(results, requested_sort)
    facet_groups = [
        {
            "name": name,
            "title": FACET_TITLES[name],
            "items_html": _facet_items(state, name, values),
        }
        for name, values in results.facets.items()
        if values
    ]
    active_filters = [
        (FACET_TITLES[name], value, state.toggle(name, value.value))
        for name, values in results.facets.items()
        for value in values
        if value.selected
    ]
    context = {
        "results": results,
        "hits_html": _hit_items(results.hits),
        "searched": bool(results.query) or bool(results.filters),
        "facet_groups": facet_groups,
        "active_filters": active_filters,
        "clear_url": QueryState(results, requested_sort).url(filters={}),
        "sort_links": [
            (key, label, state.url(sort=key))
            for key, label in (("relevance", "Relevance"), ("date", "Newest first"))
        ],
        "previous_url": state.url(page=results.page - 1) if results.has_previous else "",
        "next_url": state.url(page=results.page + 1)
        if results.has_next and results.page < MAX_PAGE
        else "",
        "permalink": state.url(page=results.page),
        "downloads": export_links(request),
        "label": "these results (first 1,000)",
    }
    if context["searched"] and policy.can_keep_alerts(request.user):
        # The saved-search form, filled in with this search (words and filters).
        context["save_search_url"] = (
            reverse("research:saved-search-list")
            + "?"
            + urlencode({"search": state.url(filters=results.filters, sort="", page=1)})
        )
    return render(request, "research/search.html", context)
