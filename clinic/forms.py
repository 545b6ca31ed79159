from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from care import lockout
from care.models import Role, User


class LockoutMixin:
    """A web login obeys the API's lockout: after repeated failures the account answers
    every login as a wrong password for a while, in the same time."""

    def clean(self):
        username = self.cleaned_data.get("username")
        user = User.objects.filter(username=username).first() if username else None
        # Counted before the password is checked (care/lockout.py).
        if user is not None and not lockout.claim_password_attempt(user=user):
            lockout.waste_a_hash(self.cleaned_data.get("password") or "")
            raise self.get_invalid_login_error()
        cleaned = super().clean()
        lockout.record_password_success(user=self.user_cache)
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


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("Resolution"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
