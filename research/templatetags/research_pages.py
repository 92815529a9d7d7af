"""Document sections that pages of other apps include by name.

The agreements pages load this library instead of importing research code, so
``agreements`` keeps no dependency on ``research``.
"""

from django import template

from research import policy, selectors

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


@register.simple_tag(takes_context=True)
def collections_to_add_to(context):
    """The reader's own collections, for "Add to a collection"; None if they may keep none."""
    user = getattr(context.get("request"), "user", None)
    if not policy.can_keep_collections(user):
        return None
    return list(selectors.collections_owned(user).only("pk", "title"))
