"""Template tags and filters for the agreements pages."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agreements import selectors
from agreements.models import AgreementEvent

register = template.Library()


@register.filter
def event_sentence(event: AgreementEvent) -> str:
    """A short sentence saying what happened to the agreement."""
    return selectors.event_sentence(event)


@register.filter
def kind_label(kind: str) -> str:
    """What the public reads for an event kind ("Ended", "Renamed", "Name changed?")."""
    return selectors.KIND_LABELS.get(kind, kind)


def _predecessor_link(event: AgreementEvent) -> SafeString | str:
    """For a re-signed or switched agreement, a link to the agreement it replaces."""
    predecessor_id = event.agreement.predecessor_id
    if not predecessor_id or event.kind not in (
        AgreementEvent.Kind.RESIGNED,
        AgreementEvent.Kind.MODEL_SWITCHED,
    ):
        return ""
    return format_html(
        ' (<a href="{}#agreement-{}">the agreement it replaces</a>)',
        reverse("agreements:agency-detail", args=[event.agency.slug]),
        predecessor_id,
    )


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
            reverse("agreements:snapshot-changes", args=[event.snapshot_id]),
            snapshot.sha256,
            f"{snapshot.published_at:%Y-%m-%d %H:%M}",
            previous,
        )
    return format_html(
        '<li id="event-{}" class="event event-{}"><time datetime="{}">{}</time> {}'
        '<span class="badge {}">{}</span> <strong class="kind">{}</strong>: {}{}{}</li>',
        event.pk,
        event.kind,
        event.occurred_at.isoformat(),
        f"{event.occurred_at:%Y-%m-%d}",
        agency,
        event.agreement.model,
        event.agreement.model,
        selectors.KIND_LABELS[event.kind],
        selectors.event_sentence(event, with_model=False),
        _predecessor_link(event),
        source,
    )


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template, or None."""
    return mapping.get(key) if isinstance(mapping, dict) else None
