from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from alerts.models import Alert, AlertEvent, AlertRuleConfig, EscalationPolicy, ReferralRecommendation
from alerts.rules import RULES, validate_params
from backend import outbound
from care.models import CareTeam, Patient, TeamMembership, TeamRole

# The stored rule is validated in code (no model choices): the schema still lists the codes.
RULE_CODES = list(RULES)


class AlertStatusSerializer(serializers.ModelSerializer):
    """What a patient or caregiver sees of their own alerts: the status, nothing clinical."""

    rule = serializers.ChoiceField(choices=RULE_CODES, read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "rule", "severity", "status", "created_at"]


class AlertEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertEvent
        fields = ["kind", "actor", "at", "detail"]


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.ChoiceField(choices=RULE_CODES, read_only=True)
    events = AlertEventSerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "patient",
            "rule",
            "severity",
            "status",
            "box2_criteria",
            "evidence",
            "late",
            "created_at",
            "last_triggered_at",
            "acknowledged_at",
            "resolved_at",
            "resolution",
            "escalation_tier",
            "events",
        ]


class AlertListItemSerializer(AlertSerializer):
    """Schema only: a row of GET alerts/. Clinicians get whole alerts (AlertSerializer);
    patients and caregivers only the fields of AlertStatusSerializer, so the others are
    documented as optional."""

    events = AlertEventSerializer(many=True, required=False)
    # Every row has these (their model defaults would make them optional here).
    status = serializers.ChoiceField(choices=Alert.Status.choices)
    created_at = serializers.DateTimeField()

    class Meta(AlertSerializer.Meta):
        extra_kwargs = {
            name: {"required": False}
            for name in AlertSerializer.Meta.fields
            if name not in AlertStatusSerializer.Meta.fields
        }


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=2000)


class ReferralSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferralRecommendation
        fields = [
            "id",
            "patient",
            "criteria",
            "priority",
            "status",
            "decline_reason",
            "created_at",
            "updated_at",
        ]


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TeamOfRequester(serializers.PrimaryKeyRelatedField):
    """Only the caller's teams exist here: another team's id fails as a random one does."""

    def get_queryset(self):
        return CareTeam.objects.filter(memberships__user=self.context["request"].user)


class PatientVisibleToRequester(serializers.PrimaryKeyRelatedField):
    """Only patients the caller may see exist here: a foreign patient's id fails exactly as
    a random one does, so the answer says nothing about other teams (issue 8, item 11)."""

    def get_queryset(self):
        return Patient.objects.visible_to(self.context["request"].user)


class AlertRuleConfigSerializer(serializers.ModelSerializer):
    rule = serializers.ChoiceField(choices=RULE_CODES)
    care_team = TeamOfRequester(queryset=CareTeam.objects.all())
    patient = PatientVisibleToRequester(queryset=Patient.objects.all(), required=False, allow_null=True)
    params = serializers.JSONField(required=False, default=dict)

    class Meta:
        model = AlertRuleConfig
        fields = ["id", "rule", "care_team", "patient", "enabled", "params", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # uniqueness is reported with a clearer message in validate()

    def validate(self, attrs: dict) -> dict:
        rule = attrs.get("rule", getattr(self.instance, "rule", None))
        team = attrs.get("care_team", getattr(self.instance, "care_team", None))
        patient = attrs.get("patient", getattr(self.instance, "patient", None))
        # A PATCH of the rule alone keeps the stored params: they must suit the new rule.
        errors = validate_params(rule, attrs.get("params", getattr(self.instance, "params", {})))
        if errors:
            raise serializers.ValidationError({"params": errors})
        if patient is not None and patient.care_team_id != team.pk:
            raise serializers.ValidationError({"patient": [_("This patient is not in this care team.")]})
        taken = AlertRuleConfig.objects.filter(rule=rule, care_team=team, patient=patient)
        if self.instance is not None:  # a PATCH onto another config's rule would break the constraint
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(
                {"rule": [_("This rule is already configured here; change it with PATCH.")]}
            )
        return attrs


class RecipientsSerializer(serializers.Serializer):
    team_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=TeamRole.choices), required=False, default=list
    )
    clinicians = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)


class TimeoutsSerializer(serializers.Serializer):
    urgent = serializers.IntegerField(min_value=1, max_value=24 * 60)
    warning = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)


class TierSerializer(serializers.Serializer):
    recipients = RecipientsSerializer()
    timeout_minutes = TimeoutsSerializer()


class EscalationPolicySerializer(serializers.ModelSerializer):
    tiers = TierSerializer(many=True, allow_empty=False, max_length=6)
    webhook_secret = serializers.CharField(max_length=200, write_only=True, required=False, allow_blank=True)
    # null while the team still runs on the default policy
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = EscalationPolicy
        fields = ["tiers", "webhook_url", "webhook_secret", "digest_hour", "digest_timezone", "updated_at"]
        read_only_fields = ["updated_at"]

    def validate_tiers(self, tiers: list[dict]) -> list[dict]:
        team = self.context["team"]
        members = {
            str(pk) for pk in TeamMembership.objects.filter(team=team).values_list("user_id", flat=True)
        }
        errors = {}
        for index, tier in enumerate(tiers):
            recipients = tier["recipients"]
            strangers = [str(pk) for pk in recipients["clinicians"] if str(pk) not in members]
            if strangers:
                errors[f"{index}.recipients.clinicians"] = [_("Not a member of this care team.")]
            if not recipients["team_roles"] and not recipients["clinicians"]:
                errors[f"{index}.recipients"] = [_("Name at least one team role or clinician.")]
            recipients["clinicians"] = [str(pk) for pk in recipients["clinicians"]]
        if errors:
            raise serializers.ValidationError(errors)
        return tiers

    def validate_webhook_url(self, url: str) -> str:
        """What can be checked before sending (the resolved address is checked at send
        time, by backend.outbound): https, and no private address written in the URL."""
        if not url:
            return url
        if not url.startswith("https://") and not settings.OUTBOUND_ALLOW_LOOPBACK:
            raise serializers.ValidationError(_("A paging webhook must use https."))
        try:
            outbound.check_url(url)
        except outbound.OutboundError as exc:
            raise serializers.ValidationError(_("A paging webhook must be a public https address.")) from exc
        return url

    def validate(self, attrs: dict) -> dict:
        if attrs.get("webhook_url") and not (
            attrs.get("webhook_secret") or getattr(self.instance, "webhook_secret", "")
        ):
            raise serializers.ValidationError({"webhook_secret": [_("A webhook needs a signing secret.")]})
        return attrs
