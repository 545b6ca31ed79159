from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from care import services
from care.models import Role, User


class ClinicianLoginForm(AuthenticationForm):
    """The web login obeys the same lockout as the API, and admits clinicians only."""

    def clean(self):
        username = self.cleaned_data.get("username")
        user = User.objects.filter(username=username).first() if username else None
        if user is not None and user.is_locked():
            raise self.get_invalid_login_error()
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if user is not None:
                services.record_failed_login(user=user)
            raise
        if self.user_cache.role != Role.CLINICIAN:
            raise forms.ValidationError(_("Only clinicians can use these pages."), code="not_clinician")
        services.record_successful_login(user=self.user_cache)
        return cleaned


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("Resolution"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
