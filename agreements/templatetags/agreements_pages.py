"""Template filters for the agreements pages."""

from django import template

from agreements import page_selectors
from agreements.models import AgreementEvent

register = template.Library()


@register.filter
def event_sentence(event: AgreementEvent) -> str:
    """A short sentence saying what happened to the agreement."""
    return page_selectors.event_sentence(event)


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template, or None."""
    return mapping.get(key) if mapping else None
