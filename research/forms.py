"""Forms of the research pages: notes, collections, submitting a document, and alerts.

They only read and check the input's shape; what is allowed (a note's passage,
length, tags and visibility; what may be collected or submitted) is decided by
the services, whose sentences the views put back on these forms, so the page,
the API and imports refuse the same things the same way.
"""

from __future__ import annotations

import us
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from agreements.models import Agency
from portal.units import size_text
from research import policy
from research.models import AlertRate, Annotation, Collection, Document, Tag, Watch
from research.services import Refused


def show_refusal(form: forms.Form, refused: Refused) -> None:
    """Put a service's sentences (:class:`research.services.Refused`) on the fields they
    are about, and the rest above the form."""
    for name, sentence in refused.errors.items():
        form.add_error(name if name in form.fields else None, sentence)


class CollectionForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    visibility = forms.ChoiceField(
        choices=Collection.Visibility.choices, initial=Collection.Visibility.PRIVATE
    )
    shared_with = forms.CharField(
        required=False,
        label="Shared with",
        help_text="User names, separated by commas; they read it when it is shared.",
    )

    def clean_shared_with(self) -> list[str]:
        return [
            name.strip() for name in self.cleaned_data["shared_with"].split(",") if name.strip()
        ]


class CollectionAddForm(forms.Form):
    """Add a document or an agency to one of your collections, or to a new one."""

    collection = forms.IntegerField(required=False, min_value=1)
    title = forms.CharField(max_length=200, required=False, label="New collection")
    document = forms.IntegerField(required=False, min_value=1)
    agency = forms.IntegerField(required=False, min_value=1)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    next = forms.CharField(required=False)

    def clean(self):
        data = super().clean()
        if not data.get("collection") and not (data.get("title") or "").strip():
            raise forms.ValidationError("Choose one of your collections, or name a new one.")
        if bool(data.get("document")) == bool(data.get("agency")):
            raise forms.ValidationError("Add either a document or an agency.")
        return data


class CollectionItemForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("up", "Move up"),
            ("down", "Move down"),
            ("note", "Save note"),
            ("remove", "Remove"),
        ]
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class SubmitForm(forms.Form):
    """A web address or a file, as ``research.services.ingest.document_submit`` takes them."""

    url = forms.CharField(label="Web address", required=False, max_length=2000)
    file = forms.FileField(label="Or a file", required=False)
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "Let the portal guess"), *Document.Kind.choices],
    )
    title = forms.CharField(label="Title (optional)", required=False, max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[
            "file"
        ].help_text = f"A PDF or HTML file up to {size_text(settings.FETCH_MAX_BYTES)}."

    def clean(self):
        data = super().clean()
        if not (data.get("url") or "").strip() and not data.get("file"):
            raise forms.ValidationError("Give a web address or choose a file to submit.")
        if (data.get("url") or "").strip() and data.get("file"):
            raise forms.ValidationError("Give a web address or a file, not both.")
        return data


class _AnyChoiceField(forms.ChoiceField):
    """A choice offered as radio buttons, whose value the service checks."""

    def valid_value(self, value) -> bool:
        return True


class _AnyChoicesField(forms.MultipleChoiceField):
    """Choices offered as check boxes; the service names the unknown ones."""

    def valid_value(self, value) -> bool:
        return True


class _NoteFields(forms.Form):
    body = forms.CharField(
        label=_("Note"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Markdown: *emphasis*, **strong**, [links](https://…), lists and quotes."),
    )
    tags = _AnyChoicesField(label=_("Tags"), required=False, widget=forms.CheckboxSelectMultiple)
    visibility = _AnyChoiceField(
        label=_("Who may read it"),
        choices=Annotation.Visibility.choices,
        initial=Annotation.Visibility.PRIVATE,
        widget=forms.RadioSelect,
    )

    groups = _AnyChoicesField(
        label=_("Groups"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Who reads the note when it is shared with the groups you choose."),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(tag.slug, tag.name) for tag in Tag.objects.order_by("name")]
        self.fields["tags"].choices = choices
        if not choices:  # no tags in the portal yet: no empty box to fill
            self.fields["tags"].widget = forms.MultipleHiddenInput()
        teams = [(str(g.pk), g.name) for g in policy.shareable_groups(user)]
        if teams:
            self.fields["groups"].choices = teams
        else:  # in no group: neither the boxes nor the choice of sharing with groups
            del self.fields["groups"]
            self.fields["visibility"].choices = [
                choice
                for choice in Annotation.Visibility.choices
                if choice[0] != Annotation.Visibility.GROUPS
            ]


class AnnotationForm(_NoteFields):
    """A new note: the passage by its offsets (the script fills them) or by its words."""

    start = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    end = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    exact = forms.CharField(
        label=_("Passage"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Select words in the text, or copy them here: they must occur once in the text."
        ),
    )

    field_order = ["exact", "body", "tags", "visibility", "groups"]

    def __init__(self, *args, document: Document, **kwargs):
        self.document = document
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        exact = cleaned.get("exact")
        if exact and (cleaned.get("start") is None or cleaned.get("end") is None):
            # No script filled the offsets: the words typed or pasted must say where.
            text = self.document.text
            count = text.count(exact)
            if count == 0:
                self.add_error(
                    "exact", _("These words are not in the text: copy them exactly from it.")
                )
            elif count > 1:
                self.add_error(
                    "exact",
                    _(
                        "These words occur %(count)d times in the text: add words before or "
                        "after them so that they occur once."
                    )
                    % {"count": count},
                )
            else:
                cleaned["start"] = text.index(exact)
                cleaned["end"] = cleaned["start"] + len(exact)
        return cleaned


class AnnotationChangeForm(_NoteFields):
    """What its author may change on a note: the passage stays where it is."""


class FlagForm(forms.Form):
    reason = forms.CharField(
        label=_("Why should a curator look at it?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


STATE_CHOICES = [("", _("Choose a state"))] + sorted(
    (s.abbr, s.name) for s in [*us.states.STATES_AND_TERRITORIES, us.states.DC]
)


class WatchForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("What to watch"), choices=Watch.Scope.choices, widget=forms.RadioSelect
    )
    agency = forms.ModelChoiceField(
        label=_("Agency"),
        queryset=Agency.objects.order_by("state", "name"),
        required=False,
        to_field_name="slug",
        empty_label=_("Choose an agency"),
    )
    county_fips = forms.CharField(
        label=_("County FIPS code"),
        required=False,
        max_length=5,
        help_text=_("5 digits, e.g. 12045 for Gulf County, Florida."),
    )
    state = forms.ChoiceField(label=_("State"), choices=STATE_CHOICES, required=False)
    changes = forms.MultipleChoiceField(
        label=_("Tell me when an agreement is"),
        choices=Watch.Change.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=Watch.Change.values,
    )
    rate = forms.ChoiceField(label=_("E-mail"), choices=AlertRate.choices, initial=AlertRate.DAILY)


class SavedSearchForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    search = forms.CharField(
        label=_("Search"),
        max_length=2000,
        help_text=_("Words as you type them in search, or the address of a search page."),
    )
    rate = forms.ChoiceField(label=_("E-mail"), choices=AlertRate.choices, initial=AlertRate.DAILY)


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=_("Address"),
        max_length=2000,
        assume_scheme="https",
        help_text=_("The portal POSTs each new alert item there as JSON, signed."),
    )
