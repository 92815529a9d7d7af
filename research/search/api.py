"""GET /api/v1/search/: the search page's results as JSON, with the same parameters."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from research.search.selectors import FACETS, MAX_PAGE, SORTS, SearchResults, search
from research.search.views import MAX_QUERY_PARAM, QueryState

_FACET_HELP = {
    "type": "document, agency or note",
    "kind": "document kind, e.g. moa, news, court_filing",
    "state": "USPS state code, e.g. TX",
    "model": "JEM, TFM or WSO",
    "year": "year of publication, e.g. 2025",
    "tag": "tag slug",
    "publisher": "publisher name, exactly",
}

_facet_value = inline_serializer(
    "SearchFacetValue",
    {
        "value": serializers.CharField(),
        "label": serializers.CharField(),
        "count": serializers.IntegerField(),
        "selected": serializers.BooleanField(),
    },
)
_hit = inline_serializer(
    "SearchHit",
    {
        "type": serializers.ChoiceField(choices=["document", "agency", "note"]),
        "id": serializers.IntegerField(),
        "title": serializers.CharField(
            help_text="A document's title, an agency's name, or the title of the document "
            "a note is on."
        ),
        "title_html": serializers.CharField(help_text="Title, HTML-escaped, matches in <mark>."),
        "url": serializers.URLField(),
        "snippet_html": serializers.CharField(
            help_text="A short excerpt, HTML-escaped, matches in <mark>."
        ),
        "date": serializers.DateField(allow_null=True),
        "kind": serializers.CharField(),
        "kind_label": serializers.CharField(),
        "publisher": serializers.CharField(),
        "states": serializers.ListField(child=serializers.CharField()),
        "score": serializers.FloatField(),
        "agreements": serializers.IntegerField(
            allow_null=True, help_text="An agency's number of agreements; null otherwise."
        ),
        "quote": serializers.CharField(
            help_text="A note's passage (no more than the reader may see of the text); "
            "empty otherwise."
        ),
        "author": serializers.CharField(help_text="A note's author; empty otherwise."),
        "tags": serializers.ListField(
            child=serializers.CharField(), help_text="A note's tags; empty otherwise."
        ),
    },
)
_response = inline_serializer(
    "SearchResponse",
    {
        "query": serializers.CharField(help_text="The query as understood."),
        "total": serializers.IntegerField(),
        "page": serializers.IntegerField(),
        "num_pages": serializers.IntegerField(),
        "page_size": serializers.IntegerField(),
        "sort": serializers.ChoiceField(choices=SORTS),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "filters": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField())
        ),
        "facets": serializers.DictField(child=serializers.ListField(child=_facet_value)),
        "results": serializers.ListField(child=_hit),
    },
)


def _payload(request: Request, results: SearchResults, state: QueryState) -> dict:
    def absolute(url: str) -> str:
        return request.build_absolute_uri(url)

    base = request.path
    return {
        "query": str(results.query),
        "total": results.total,
        "page": results.page,
        "num_pages": results.num_pages,
        "page_size": results.page_size,
        "sort": results.sort,
        "next": absolute(base + state.url(page=results.page + 1))
        if results.has_next and results.page < MAX_PAGE
        else None,
        "previous": absolute(base + state.url(page=results.page - 1))
        if results.has_previous
        else None,
        "filters": results.filters,
        "facets": {
            name: [
                {"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
                for v in values
            ]
            for name, values in results.facets.items()
        },
        "results": [
            {
                "type": hit.type,
                "id": hit.id,
                "title": hit.title,
                "title_html": str(hit.title_html),
                "url": absolute(hit.url),
                "snippet_html": str(hit.snippet),
                "date": hit.date.isoformat() if hit.date else None,
                "kind": hit.kind,
                "kind_label": hit.kind_label,
                "publisher": hit.publisher,
                "states": list(hit.states),
                "score": round(hit.score, 6),
                "agreements": hit.agreements,
                "quote": hit.quote,
                "author": hit.author,
                "tags": list(hit.tags),
            }
            for hit in results.hits
        ],
    }


class SearchAPIView(APIView):
    """Full-text search over documents, agencies and notes, with facet counts."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="search",
        summary="Search documents, agencies and notes",
        description=(
            'Words must all match; "exact phrases", `a OR b` and `-word` / `-"phrase"` '
            "exclusion are understood. Stemmed (detain finds detained, detainers); title "
            "matches rank above summary and body matches. Facet counts are computed over the "
            "filtered results and are exact. Relevance (BM25, title weighted 10, summary 4, "
            "body 1) is computed over every match, however many; equal scores come newest "
            "(highest id) first. "
            "Notes are matched by their body and tags, for readers allowed to see them; "
            "they have no kind, state, model, year or publisher, so those filters leave "
            "them out. "
            "Repeat a filter parameter to accept several values."
        ),
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="The query."),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS)),
            OpenApiParameter("page", OpenApiTypes.INT, description=f"1 to {MAX_PAGE}."),
            *[
                OpenApiParameter(name, OpenApiTypes.STR, many=True, description=_FACET_HELP[name])
                for name in FACETS
            ],
        ],
        responses={200: _response},
    )
    def get(self, request: Request) -> Response:
        requested_sort = request.query_params.get("sort", "relevance")
        results = search(
            request.query_params.get("q", "")[:MAX_QUERY_PARAM],
            filters=request.query_params,
            sort=requested_sort,
            page=request.query_params.get("page", 1),
            user=request.user,
        )
        return Response(_payload(request, results, QueryState(results, requested_sort)))
