"""Document sections that pages of other apps include by name.

The agreements pages load this library instead of importing research code, so
``agreements`` keeps no dependency on ``research``.
"""

from django import template
from django.db.models import F

from research import policy
from research.models import Document, DocumentAgency, DocumentAgreement

register = template.Library()

# What a list of documents shows; never the (long) text.
LISTED_FIELDS = ("pk", "title", "canonical_url", "kind", "publisher", "published_on", "status")


@register.inclusion_tag("research/_agency_documents.html", takes_context=True)
def agency_documents(context, agency) -> dict:
    """An agency's MOAs, and the documents confirmed to be about it or one of its agreements.

    Three queries; suggested links that no curator confirmed are not shown, and
    only the documents ``research.policy`` lets the reader see are listed.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    viewable = policy.visible_documents(user, Document.objects.only(*LISTED_FIELDS))
    moas = list(
        viewable.filter(
            agreement_links__agreement__agency=agency,
            agreement_links__role__in=[DocumentAgreement.Role.MOA, DocumentAgreement.Role.ADDENDUM],
        )
        .annotate(
            role=F("agreement_links__role"),
            model=F("agreement_links__agreement__model"),
            signed_on=F("agreement_links__agreement__signed_on"),
        )
        .order_by("model", "-signed_on", "role", "pk")
    )
    # The links are read first, by agency (indexed): filtering the documents
    # with the link subqueries in the same statement makes the planner walk
    # every published document and probe the links for each.
    confirmed = DocumentAgency.objects.filter(
        agency=agency, status=DocumentAgency.Status.CONFIRMED
    ).values_list("document_id", flat=True)
    related = DocumentAgreement.objects.filter(
        agreement__agency=agency, role=DocumentAgreement.Role.RELATED
    ).values_list("document_id", flat=True)
    linked = set(confirmed.union(related))
    documents = (
        list(
            viewable.filter(pk__in=linked)
            .exclude(kind=Document.Kind.MOA)
            .order_by("-published_on", "-created_at")[:50]
        )
        if linked
        else []
    )
    return {"agency": agency, "moas": moas, "documents": documents}


@register.inclusion_tag("research/_document_items.html")
def document_items(documents) -> dict:
    """A list of documents with kind, date and publisher."""
    return {"documents": documents}
