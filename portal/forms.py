"""The portal's account forms: requesting access and making an invited account."""

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _


class PortalForm(forms.Form):
    """Labels without Django's trailing colon, as on the login page."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class AccessRequestForm(PortalForm):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("E-mail address"))
    affiliation = forms.CharField(
        label=_("Affiliation"),
        max_length=300,
        help_text=_("The newsroom, university, clinic or organization you work with."),
    )
    reason = forms.CharField(
        label=_("Why you would like an account"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What you are researching, in a few sentences."),
    )


class InvitedAccountForm(PortalForm):
    """A username and a password typed twice; the service checks them against the validators."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("Letters, digits and @ . + - _ only; others see it next to your notes."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ: type the same one twice."))
        return cleaned
