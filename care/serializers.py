from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from care import vapid
from care.models import (
    CaregiverLink,
    Device,
    Invite,
    Patient,
    Role,
    User,
    available_timezones,
)


class TimezoneField(serializers.CharField):
    default_error_messages = {"unknown": _("“{value}” is not an IANA time zone name.")}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in available_timezones():
            self.fail("unknown", value=value)
        return value


class TeamSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="team.id")
    name = serializers.CharField(source="team.name")
    team_role = serializers.CharField()


class LinkedPatientSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()
    can_view = serializers.BooleanField()
    can_report = serializers.BooleanField()


@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$", "example": "20:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day on the user's own clock: no UTC offset (OpenAPI's `time` would need one)."""


class MeSerializer(serializers.ModelSerializer):
    patient = serializers.SerializerMethodField()
    patients = serializers.SerializerMethodField()
    teams = TeamSerializer(source="memberships", many=True, read_only=True)
    timezone = TimezoneField(max_length=64, required=False)
    reminder_time = WallClockTimeField(required=False, allow_null=True)
    quiet_hours_start = WallClockTimeField(required=False, allow_null=True)
    quiet_hours_end = WallClockTimeField(required=False, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "role",
            "patient",
            "patients",
            "teams",
            "language",
            "timezone",
            "reminder_time",
            "quiet_hours_start",
            "quiet_hours_end",
        ]
        read_only_fields = ["id", "username", "role"]

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_patient(self, user: User) -> str | None:
        patient = getattr(user, "patient", None)
        return str(patient.pk) if user.role == Role.PATIENT and patient else None

    @staticmethod
    def _patients(user: User) -> list[dict]:
        if user.role == Role.PATIENT and getattr(user, "patient", None):
            p = user.patient
            return [{"id": p.pk, "display_name": p.display_name, "can_view": True, "can_report": True}]
        links = CaregiverLink.objects.active().filter(caregiver=user).select_related("patient")
        return [
            {
                "id": link.patient_id,
                "display_name": link.patient.display_name,
                "can_view": link.can_view,
                "can_report": link.can_report,
            }
            for link in links
        ]

    @extend_schema_field(LinkedPatientSerializer(many=True))
    def get_patients(self, user: User) -> list[dict]:
        return LinkedPatientSerializer(self._patients(user), many=True).data


class IddsSerializer(serializers.Serializer):
    lockout_minutes = serializers.IntegerField(min_value=1, max_value=1440, source="idds_lockout_minutes")
    max_daily_boluses = serializers.IntegerField(min_value=1, max_value=100, source="idds_max_daily_boluses")
    reservoir_ml = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=0,
        source="idds_reservoir_ml",
        required=False,
        allow_null=True,
    )
    next_refill_date = serializers.DateField(source="idds_next_refill_date", required=False, allow_null=True)


IDDS_FIELDS = (
    "idds_lockout_minutes",
    "idds_max_daily_boluses",
    "idds_reservoir_ml",
    "idds_next_refill_date",
)
CLINICAL_FIELDS = [
    "care_team",
    "enrolled_on",
    "diagnosis",
    "baseline_mme",
    "limited_prognosis",
    "cancer_survivor",
    "substance_use_history",
    "organ_failure",
    "idds",
]

# Set by the pain team only (PatientSelfSerializer ignores them).
TEAM_OWNED_FIELDS = [*CLINICAL_FIELDS, "display_name"]
HIDDEN_FROM_NON_VIEWING_CAREGIVERS = [field for field in CLINICAL_FIELDS if field != "care_team"]


class PatientSerializer(serializers.ModelSerializer):
    timezone = TimezoneField(max_length=64)
    enrolled_on = serializers.DateField(required=False)
    baseline_mme = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    idds = IddsSerializer(source="*", required=False, allow_null=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "display_name",
            "care_team",
            "timezone",
            "language",
            "enrolled_on",
            "activated_at",
            "diagnosis",
            "baseline_mme",
            "limited_prognosis",
            "cancer_survivor",
            "substance_use_history",
            "organ_failure",
            "idds",
            "created_at",
        ]
        read_only_fields = ["id", "activated_at", "created_at"]

    def to_representation(self, instance: Patient) -> dict:
        data = super().to_representation(instance)
        if not instance.idds:
            data["idds"] = None
        if not self._may_read_clinical(instance):
            # A caregiver who may not read the diary does not read the clinical record
            # either: the diagnosis and the Box 2 history (#7, #8) are not theirs to see.
            for field in HIDDEN_FROM_NON_VIEWING_CAREGIVERS:
                data.pop(field, None)
        return data

    def _may_read_clinical(self, patient: Patient) -> bool:
        request = self.context.get("request")
        if request is None or getattr(request.user, "role", None) != Role.CAREGIVER:
            return True
        if "caregiver_viewable" not in self.context:  # once per request, lists included
            links = CaregiverLink.objects.active().filter(caregiver=request.user, can_view=True)
            self.context["caregiver_viewable"] = set(links.values_list("patient_id", flat=True))
        return patient.pk in self.context["caregiver_viewable"]

    def validate_care_team(self, team):
        request = self.context["request"]
        if not request.user.memberships.filter(team=team).exists():
            raise serializers.ValidationError(_("You are not a member of this care team."))
        return team

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        if "idds" in data and data["idds"] is None:
            attrs = super().to_internal_value({k: v for k, v in data.items() if k != "idds"})
            return {**attrs, "idds": False, **dict.fromkeys(IDDS_FIELDS)}
        attrs = super().to_internal_value(data)
        if "idds" in data:
            attrs["idds"] = True
        return attrs

    def validate(self, attrs: dict) -> dict:
        zone = attrs.get("timezone") or getattr(self.instance, "timezone", "UTC")
        enrolled_on = attrs.get("enrolled_on")
        if enrolled_on and enrolled_on > timezone.now().astimezone(ZoneInfo(zone)).date():
            raise serializers.ValidationError({"enrolled_on": [_("This date is in the future.")]})
        return attrs


class PatientSelfSerializer(PatientSerializer):
    """What a patient or caregiver may change: clinical flags in the body are ignored, and
    so is the name the pain team knows the patient by."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            data = {k: v for k, v in data.items() if k not in TEAM_OWNED_FIELDS}
        return super().to_internal_value(data)


class InviteSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=[Role.PATIENT, Role.CAREGIVER])

    class Meta:
        model = Invite
        fields = ["role", "relationship", "can_view", "can_report", "code", "expires_at"]
        read_only_fields = ["code", "expires_at"]
        extra_kwargs = {"relationship": {"required": False}}

    def validate_role(self, role: str) -> str:
        if self.context["request"].user.role != Role.CLINICIAN and role != Role.CAREGIVER:
            raise serializers.ValidationError(_("You can invite only caregivers."))
        if role == Role.PATIENT and self.context["patient"].user_id is not None:
            raise serializers.ValidationError(_("This patient already uses the app."))
        return role


class CaregiverLinkSerializer(serializers.ModelSerializer):
    caregiver_username = serializers.CharField(source="caregiver.username", read_only=True)

    class Meta:
        model = CaregiverLink
        fields = [
            "id",
            "caregiver",
            "caregiver_username",
            "relationship",
            "can_view",
            "can_report",
            "created_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "caregiver", "relationship", "created_at", "revoked_at"]


class DeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "platform", "token", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness is handled by the write path (a token re-registered moves, not fails).
        extra_kwargs = {"token": {"validators": []}}

    def validate(self, attrs: dict) -> dict:
        if attrs.get("platform") == Device.Platform.WEBPUSH:
            attrs["token"] = webpush_token(attrs["token"])
        return attrs


def webpush_token(raw: str) -> str:
    try:
        token = vapid.canonical_subscription(raw)
    except ValueError as exc:
        raise serializers.ValidationError({"token": [str(exc)]}) from None
    if len(token) > Device._meta.get_field("token").max_length:
        raise serializers.ValidationError({"token": [str(vapid.NOT_A_SUBSCRIPTION)]})
    return token


class DeviceRemovalSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)

    def validate_token(self, value: str) -> str:
        # A Web Push token is matched in the spelling it was stored in.
        try:
            return vapid.canonical_subscription(value)
        except ValueError:
            return value


class WebPushKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="VAPID application server key, base64url")


class OpenAlertsSerializer(serializers.Serializer):
    urgent = serializers.IntegerField()
    warning = serializers.IntegerField()
    info = serializers.IntegerField()


class TriageSerializer(PatientSerializer):
    """A clinician's triage row: the patient plus what the alerts app keeps current."""

    last_checkin_at = serializers.SerializerMethodField()
    pain_today = serializers.SerializerMethodField()
    pain_7d_trend = serializers.SerializerMethodField()
    open_alerts = serializers.SerializerMethodField()
    referral_status = serializers.SerializerMethodField()
    box2_criteria_met = serializers.SerializerMethodField()

    class Meta(PatientSerializer.Meta):
        fields = [
            *PatientSerializer.Meta.fields,
            "last_checkin_at",
            "pain_today",
            "pain_7d_trend",
            "open_alerts",
            "referral_status",
            "box2_criteria_met",
        ]

    @staticmethod
    def _status(patient: Patient):
        return getattr(patient, "status", None)

    def get_last_checkin_at(self, patient: Patient) -> datetime | None:
        status = self._status(patient)
        return status.last_checkin_at if status else None

    def get_pain_today(self, patient: Patient) -> int | None:
        status = self._status(patient)
        if status and status.pain_today_date == patient.local_today():
            return status.pain_today
        return None

    def get_pain_7d_trend(self, patient: Patient) -> float | None:
        status = self._status(patient)
        return status.pain_7d_trend if status else None

    @extend_schema_field(OpenAlertsSerializer)
    def get_open_alerts(self, patient: Patient) -> dict:
        status = self._status(patient)
        if not status:
            return {"urgent": 0, "warning": 0, "info": 0}
        return {"urgent": status.open_urgent, "warning": status.open_warning, "info": status.open_info}

    def get_referral_status(self, patient: Patient) -> str | None:
        status = self._status(patient)
        return (status.referral_status or None) if status else None

    def get_box2_criteria_met(self, patient: Patient) -> list[int]:
        status = self._status(patient)
        return list(status.box2_criteria_met) if status else []


class PatientListItemSerializer(PatientSerializer):
    """Schema only: a row of GET patients/. Clinicians' rows add the triage fields
    (TriageSerializer); patients' and caregivers' rows are plain patients."""

    last_checkin_at = serializers.DateTimeField(allow_null=True, required=False)
    pain_today = serializers.IntegerField(allow_null=True, required=False)
    pain_7d_trend = serializers.FloatField(allow_null=True, required=False)
    open_alerts = OpenAlertsSerializer(required=False)
    referral_status = serializers.ChoiceField(
        choices=["suggested", "accepted"], allow_null=True, required=False
    )
    box2_criteria_met = serializers.ListField(child=serializers.IntegerField(), required=False)

    class Meta(PatientSerializer.Meta):
        fields = TriageSerializer.Meta.fields
