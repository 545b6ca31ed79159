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


def _number(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", **attrs})


class PatientForm(forms.Form):
    """Every field of `POST patients/`; validated by the API's PatientSerializer
    (clinic.apiforms), so the fields here only collect text."""

    display_name = forms.CharField(label=_("Name shown to the team"), max_length=200)
    care_team = forms.ChoiceField(label=_("Care team"))
    timezone = forms.ChoiceField(label=_("Patient's time zone"))
    language = forms.ChoiceField(label=_("Patient's language"), choices=Language.choices)
    enrolled_on = forms.CharField(
        label=_("Enrolled on"),
        required=False,
        help_text=_("Leave empty for today."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    diagnosis = forms.CharField(label=_("Diagnosis"), max_length=200, required=False)
    baseline_mme = forms.CharField(
        label=_("Baseline opioid dose (mg/day oral morphine equivalent)"), required=False, widget=_number()
    )
    limited_prognosis = forms.BooleanField(
        label=_("Limited prognosis: expected to live months rather than years (Box 2 #5)"), required=False
    )
    cancer_survivor = forms.BooleanField(label=_("Cancer survivor (Box 2 #6)"), required=False)
    substance_use_history = forms.BooleanField(
        label=_("History of substance use disorder (Box 2 #7)"), required=False
    )
    organ_failure = forms.BooleanField(
        label=_("Organ failure affecting analgesic choice (Box 2 #8)"), required=False
    )
    idds = forms.BooleanField(label=_("Has an intrathecal pump or port"), required=False)
    idds_lockout_minutes = forms.CharField(
        label=_("Pump lockout interval (minutes)"), required=False, widget=_number(inputmode="numeric")
    )
    idds_max_daily_boluses = forms.CharField(
        label=_("Pump maximum boluses per day"), required=False, widget=_number(inputmode="numeric")
    )
    idds_reservoir_ml = forms.CharField(label=_("Pump reservoir (ml)"), required=False, widget=_number())
    idds_next_refill_date = forms.CharField(
        label=_("Next pump refill"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    CONTEXT_FIELDS = (
        "diagnosis",
        "baseline_mme",
        "limited_prognosis",
        "cancer_survivor",
        "substance_use_history",
        "organ_failure",
        "idds",
        "idds_lockout_minutes",
        "idds_max_daily_boluses",
        "idds_reservoir_ml",
        "idds_next_refill_date",
    )

    def __init__(self, *args, teams=(), context_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        from care.models import available_timezones

        self.fields["care_team"].choices = [(str(t.pk), t.name) for t in teams]
        self.fields["timezone"].choices = [(z, z) for z in sorted(available_timezones())]
        if context_only:
            for name in list(self.fields):
                if name not in self.CONTEXT_FIELDS:
                    del self.fields[name]

    def api_payload(self) -> dict:
        """The body the API would get: what was typed, empty optional fields left out; an
        unticked pump is `idds: null` (no pump) on an edit, absent on a new patient."""
        data = self.cleaned_data
        body = {
            name: data[name]
            for name in self.fields
            if not name.startswith("idds") and data.get(name) not in ("", None)
        }
        for flag in ("limited_prognosis", "cancer_survivor", "substance_use_history", "organ_failure"):
            if flag in self.fields:
                body[flag] = bool(data.get(flag))
        if data.get("idds"):
            body["idds"] = {
                key: data[f"idds_{key}"]
                for key in ("lockout_minutes", "max_daily_boluses", "reservoir_ml", "next_refill_date")
                if data.get(f"idds_{key}") not in ("", None)
            }
        elif "care_team" not in self.fields:
            body["idds"] = None
        if "baseline_mme" in self.fields and data.get("baseline_mme") in ("", None):
            body["baseline_mme"] = None
        return body


class InviteForm(forms.Form):
    relationship = forms.CharField(label=_("Relationship to the patient"), max_length=100, required=False)
    can_view = forms.BooleanField(label=_("May read the diary"), required=False, initial=True)
    can_report = forms.BooleanField(label=_("May report for the patient"), required=False, initial=True)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for declining"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
