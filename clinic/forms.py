from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from care import services
from care.models import Language, Role, User


class LockoutMixin:
    """A web login obeys the API's lockout: after repeated failures the account answers
    every login as a wrong password for a while, in the same time."""

    def clean(self):
        username = self.cleaned_data.get("username")
        user = User.objects.filter(username=username).first() if username else None
        if user is not None and user.is_locked():
            User().set_password(self.cleaned_data.get("password") or "")  # as slow as a real check
            raise self.get_invalid_login_error()
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if user is not None:
                services.record_failed_login(user=user)
            raise
        services.record_successful_login(user=self.user_cache)
        return cleaned


class ClinicianLoginForm(LockoutMixin, AuthenticationForm):
    """The clinic pages admit clinicians only."""

    def clean(self):
        cleaned = super().clean()
        if self.user_cache.role != Role.CLINICIAN:
            raise forms.ValidationError(_("Only clinicians can use these pages."), code="not_clinician")
        return cleaned


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    pass


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


class AuthenticatorForm(forms.Form):
    code = forms.CharField(
        label=_("The 6-digit code your authenticator app shows now"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("Resolution"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language of these pages"), choices=Language.choices)
