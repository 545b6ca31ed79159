from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from alerts.rules import RULES
from care import lockout
from care.models import Language, Role, TeamRole, User, available_timezones


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
        if "care_team" not in self.fields:  # an edit: an emptied field is cleared
            if data.get("baseline_mme") in ("", None):
                body["baseline_mme"] = None
            body.setdefault("diagnosis", "")
        return body


class InviteForm(forms.Form):
    relationship = forms.CharField(label=_("Relationship to the patient"), max_length=100, required=False)
    can_view = forms.BooleanField(label=_("May read the diary"), required=False, initial=True)
    can_report = forms.BooleanField(label=_("May report for the patient"), required=False, initial=True)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for declining"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class RuleConfigForm(forms.Form):
    """One rule's team default or patient override; params are validated by the API's
    AlertRuleConfigSerializer (alerts.rules.validate_params)."""

    enabled = forms.BooleanField(label=_("On"), required=False)

    def __init__(self, *args, rule, **kwargs):

        super().__init__(*args, **kwargs)
        self.rule = rule
        for name, param in RULES[rule].params.items():
            self.fields[f"params_{name}"] = forms.CharField(
                label=PARAM_LABELS.get(name, name.replace("_", " ")),
                required=False,
                help_text=_("%(min)s to %(max)s; default %(default)s")
                % {"min": param.minimum, "max": param.maximum, "default": param.default},
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}),
            )

    def params(self) -> dict:
        """What was typed, as JSON numbers where it reads as one; the rest goes to the
        serializer as typed so that its message names the problem."""
        result = {}
        for name, value in self.cleaned_data.items():
            if not name.startswith("params_") or value in ("", None):
                continue
            text = value.strip().replace(",", ".")
            try:
                number = int(text) if text.lstrip("-").isdigit() else float(text)
            except ValueError:
                number = value
            result[name.removeprefix("params_")] = number
        return result


PARAM_LABELS = {
    "min_pain": _("Lowest day pain (0-10)"),
    "days": _("Days"),
    "opioid_lookback_days": _("Days to look back for opioid doses"),
    "window_days": _("Window (days)"),
    "severe_grade": _("Severe grade (0-4)"),
    "repeat_grade": _("Repeated grade (0-4)"),
    "repeat_days": _("Repeated on days"),
    "limiting_reports": _("Reports limiting daily activities"),
    "min_mean": _("Lowest interference mean (0-10)"),
    "min_descriptors": _("Lowest DN4 descriptors"),
    "rise": _("Rise above the baseline (points)"),
    "consecutive_pain": _("Day pain two days running (0-10)"),
    "prognosis_pain": _("Day pain with a limited prognosis (0-10)"),
    "consecutive_days": _("Consecutive days"),
    "days_before": _("Days before the refill"),
    "usage_days": _("Days of bolus use to average"),
    "reminder_days": _("Days without diary before a reminder"),
    "alert_days": _("Days without diary before an alert"),
}

TIER_COUNT = 4


class EscalationForm(forms.Form):
    """Up to TIER_COUNT tiers: who is paged and how long each severity waits for an
    acknowledgement before the next tier. Validated by EscalationPolicySerializer."""

    def __init__(self, *args, **kwargs):

        super().__init__(*args, **kwargs)
        for i in range(TIER_COUNT):
            self.fields[f"tier{i}_roles"] = forms.MultipleChoiceField(
                label=_("Tier %(n)s: who is paged") % {"n": i + 1},
                choices=TeamRole.choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )
            self.fields[f"tier{i}_urgent"] = forms.CharField(
                label=_("Tier %(n)s: minutes an urgent alert waits") % {"n": i + 1}, required=False
            )
            self.fields[f"tier{i}_warning"] = forms.CharField(
                label=_("Tier %(n)s: minutes a warning waits") % {"n": i + 1}, required=False
            )

    @staticmethod
    def initial_for(tiers: list[dict]) -> dict:
        initial = {}
        for i, tier in enumerate(tiers[:TIER_COUNT]):
            initial[f"tier{i}_roles"] = tier.get("recipients", {}).get("team_roles", [])
            initial[f"tier{i}_urgent"] = tier.get("timeout_minutes", {}).get("urgent", "")
            initial[f"tier{i}_warning"] = tier.get("timeout_minutes", {}).get("warning", "")
        return initial

    def tiers(self, existing: list[dict]) -> list[dict]:
        """The tiers typed, in order; a row left wholly empty is no tier. Clinicians named
        through the API stay on their tier."""
        result = []
        for i in range(TIER_COUNT):
            roles = self.cleaned_data.get(f"tier{i}_roles") or []
            urgent = self.cleaned_data.get(f"tier{i}_urgent", "")
            warning = self.cleaned_data.get(f"tier{i}_warning", "")
            clinicians = existing[i]["recipients"].get("clinicians", []) if i < len(existing) else []
            if not (roles or urgent or warning or clinicians):
                continue
            result.append(
                {
                    "recipients": {"team_roles": roles, "clinicians": clinicians},
                    "timeout_minutes": {"urgent": urgent, "warning": warning},
                }
            )
        return result


class WebhookForm(forms.Form):
    webhook_url = forms.CharField(label=_("Paging webhook URL"), required=False, max_length=200)


class DigestForm(forms.Form):
    digest_hour = forms.ChoiceField(
        label=_("Hour of the daily digest of info alerts"), choices=[(h, f"{h:02d}:00") for h in range(24)]
    )
    digest_timezone = forms.ChoiceField(label=_("On the clock of"))

    def __init__(self, *args, **kwargs):

        super().__init__(*args, **kwargs)
        self.fields["digest_timezone"].choices = [(z, z) for z in sorted(available_timezones())]


class AccessLogFilterForm(forms.Form):
    patient = forms.ChoiceField(label=_("Patient"), required=False)
    reader = forms.ChoiceField(label=_("Reader"), required=False)

    def __init__(self, *args, patients, readers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].choices = [
            ("", _("All patients")),
            *((str(p.pk), p.display_name) for p in patients),
        ]
        self.fields["reader"].choices = [("", _("Everybody")), *((str(u.pk), u.username) for u in readers)]
