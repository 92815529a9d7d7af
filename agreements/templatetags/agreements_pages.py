"""Template tags and filters for the agreements pages."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agreements import page_selectors
from agreements.models import AgreementEvent

register = template.Library()


@register.filter
def event_sentence(event: AgreementEvent) -> str:
    """A short sentence saying what happened to the agreement."""
    return page_selectors.event_sentence(event)


@register.simple_tag
def event_item(
    event: AgreementEvent, show_agency: bool = False, show_snapshot: bool = True
) -> SafeString:
    """One event of a timeline as an ``<li>``, linked to the snapshot it was seen in.

    Written in Python rather than as an included template: pages list hundreds.
    """
    snapshot = event.snapshot
    agency = ""
    if show_agency:
        agency = format_html(
            '<a href="{}">{}</a> ({}): ',
            reverse("agreements:agency-detail", args=[event.agency.slug]),
            event.agency.name,
            event.agency.state,
        )
    source = ""
    if show_snapshot:
        previous = ""
        if event.previous_snapshot_id:
            previous = format_html(
                ' vs <a href="{}">previous list</a>',
                reverse("agreements:snapshot-detail", args=[event.previous_snapshot_id]),
            )
        source = format_html(
            ' <span class="muted">— <a href="{}" title="sha256 {}">ICE list of {}</a>{}</span>',
            reverse("agreements:snapshot-detail", args=[event.snapshot_id]),
            snapshot.sha256,
            f"{snapshot.published_at:%Y-%m-%d %H:%M}",
            previous,
        )
    return format_html(
        '<li id="event-{}" class="event event-{}"><time datetime="{}">{}</time> {}'
        '<span class="badge {}">{}</span> {}{}</li>',
        event.pk,
        event.kind,
        event.occurred_at.isoformat(),
        f"{event.occurred_at:%Y-%m-%d}",
        agency,
        event.agreement.model,
        event.agreement.model,
        page_selectors.event_sentence(event, with_model=False),
        source,
    )


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template, or None."""
    return mapping.get(key) if isinstance(mapping, dict) else None
