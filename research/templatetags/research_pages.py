"""Document sections that pages of other apps include by name.

The agreements pages load this library instead of importing research code, so
``agreements`` keeps no dependency on ``research``.
"""

from django import template

from research import selectors

register = template.Library()


@register.inclusion_tag("research/_agency_documents.html", takes_context=True)
def agency_documents(context, agency) -> dict:
    """An agency's MOAs, and the documents confirmed to be about it or one of its agreements,
    as far as the reader may see them."""
    request = context.get("request")
    moas, documents = selectors.agency_documents(getattr(request, "user", None), agency)
    return {"agency": agency, "moas": moas, "documents": documents}


@register.inclusion_tag("research/_document_items.html")
def document_items(documents) -> dict:
    """A list of documents with kind, date and publisher."""
    return {"documents": documents}
