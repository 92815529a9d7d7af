"""Forms of the research pages: writing, changing and flagging notes.

They only read the request's values; what is allowed (the passage, the
length of a note, its tags and visibility) is decided by
``research.services.annotations``, whose sentences the views put back on
these forms, so the page, the API and imports refuse the same things the
same way.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from research.models import Annotation, Document, Tag


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(tag.slug, tag.name) for tag in Tag.objects.order_by("name")]
        self.fields["tags"].choices = choices
        if not choices:  # no tags in the portal yet: no empty box to fill
            self.fields["tags"].widget = forms.MultipleHiddenInput()

    def refuse(self, errors: dict[str, str]) -> None:
        """Put the service's sentences on the fields they are about."""
        for name, sentence in errors.items():
            self.add_error(name if name in self.fields else None, sentence)


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

    field_order = ["exact", "body", "tags", "visibility"]

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
