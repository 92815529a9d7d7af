"""Notes are written in Markdown and shown as sanitized HTML.

Markdown turns the text into HTML, raw HTML included, and nh3 (ammonia) then
keeps only plain formatting: no script, style, event handler, form or image
(an image would fetch from another site when the page is read), and links only
to http, https and mailto addresses, marked as user content.
"""

from __future__ import annotations

import threading
from functools import lru_cache

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
# Building a Markdown converter (its extensions and patterns) costs more than
# converting a note; each thread keeps one, as converters are not thread-safe.
_local = threading.local()


def _converter() -> markdown.Markdown:
    converter = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = markdown.Markdown(
            extensions=EXTENSIONS, output_format="html"
        )
    return converter


def render_markdown(body: str) -> SafeString:
    """The note's Markdown as HTML that is safe to put in a page."""
    return mark_safe(_render(body))  # noqa: S308 - sanitized by nh3 in _render


# A page lists up to hundreds of notes, mostly unchanged from one view to the next;
# the HTML of the 2,048 bodies last shown is kept (typically a few MB) rather than redone.
@lru_cache(maxsize=2048)
def _render(body: str) -> str:
    html = _converter().reset().convert(body)
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
    return cleaned
