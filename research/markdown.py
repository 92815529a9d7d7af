"""Notes are written in Markdown and shown as sanitized HTML.

Markdown turns the text into HTML, raw HTML included, and nh3 (ammonia) then
keeps only plain formatting: no script, style, event handler, form or image
(an image would fetch from another site when the page is read), and links only
to http, https and mailto addresses, marked as user content.
"""

from __future__ import annotations

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote",
        "ul", "ol", "li", "h3", "h4", "h5", "h6", "del", "sup", "sub",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
EXTENSIONS = ["sane_lists", "fenced_code"]


def render_markdown(body: str) -> SafeString:
    """The note's Markdown as HTML that is safe to put in a page."""
    html = markdown.markdown(body, extensions=EXTENSIONS, output_format="html")
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above
