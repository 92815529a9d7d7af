"""The search page: a thin view over :func:`research.search.selectors.search`."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from research.search.selectors import FACETS, MAX_PAGE, SearchResults, search

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


class QueryState:
    """The page's parameters, to build permalinks that change one thing at a time."""

    def __init__(self, results: SearchResults, requested_sort: str):
        self.q = results.raw_query
        self.filters = results.filters
        self.sort = requested_sort if requested_sort in {"relevance", "date"} else ""

    def url(self, *, filters=None, sort=None, page: int = 1) -> str:
        filters = self.filters if filters is None else filters
        sort = self.sort if sort is None else sort
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for name in FACETS:
            pairs += [(name, value) for value in filters.get(name, [])]
        if sort and sort != "relevance":
            pairs.append(("sort", sort))
        if page > 1:
            pairs.append(("page", str(page)))
        return "?" + urlencode(pairs) if pairs else "?"

    def toggle(self, name: str, value: str) -> str:
        filters = {k: list(v) for k, v in self.filters.items()}
        values = filters.setdefault(name, [])
        if value in values:
            values.remove(value)
        else:
            values.append(value)
        return self.url(filters=filters)


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Search documents and agencies; every state of the page is a permalink."""
    raw = request.GET.get("q", "")[:MAX_QUERY_PARAM]
    requested_sort = request.GET.get("sort", "relevance")
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
            "values": [(value, state.toggle(name, value.value)) for value in values],
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
    }
    return render(request, "research/search.html", context)
