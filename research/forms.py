"""Forms of the researcher's own pages: collections and submitting a document.

They only read and check the input's shape; the services decide the rest and
say why they refuse.
"""

from __future__ import annotations

from django import forms
from django.conf import settings

from portal.units import size_text
from research.models import Collection, Document


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
