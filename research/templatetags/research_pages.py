"""Document sections that pages of other apps include by name.

The agreements pages load this library instead of importing research code, so
``agreements`` keeps no dependency on ``research``.
"""

from django import template

from research.models import Document, DocumentAgency, DocumentAgreement

register = template.Library()


@register.inclusion_tag("research/_agency_documents.html", takes_context=True)
def agency_documents(context, agency) -> dict:
    """An agency's MOAs and the documents confirmed to be about it (two queries)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    viewable = Document.objects.viewable_by(user)
    moas = list(
        DocumentAgreement.objects.filter(
            agreement__agency=agency,
            role__in=[DocumentAgreement.Role.MOA, DocumentAgreement.Role.ADDENDUM],
            document__in=viewable,
        )
        .select_related("document", "agreement")
        .order_by("agreement__model", "-agreement__signed_on", "role")
    )
    documents = list(
        viewable.filter(
            agency_links__agency=agency, agency_links__status=DocumentAgency.Status.CONFIRMED
        )
        .exclude(kind=Document.Kind.MOA)
        .distinct()
        .order_by("-published_on", "-created_at")[:50]
    )
    return {"agency": agency, "moas": moas, "documents": documents}


@register.inclusion_tag("research/_document_items.html")
def document_items(documents) -> dict:
    """A list of documents with kind, date and publisher."""
    return {"documents": documents}
