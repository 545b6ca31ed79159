from __future__ import annotations

import uuid

import django_filters
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.actions.config import save_escalation_policy, save_rule_config
from alerts.actions.lifecycle import acknowledge_alert, resolve_alert
from alerts.actions.referrals import IllegalTransition, move_referral
from alerts.models import Alert, AlertRuleConfig, EscalationPolicy, ReferralRecommendation, default_tiers
from alerts.rules import SEVERITY_RANK
from alerts.serializers import (
    AcknowledgeSerializer,
    AlertListItemSerializer,
    AlertRuleConfigSerializer,
    AlertSerializer,
    AlertStatusSerializer,
    DeclineSerializer,
    EscalationPolicySerializer,
    ReferralSerializer,
    ResolveSerializer,
)
from backend.errors import ERROR_RESPONSES
from backend.pagination import KeysetPagination
from care.access import AuditedReadMixin, IsClinician, visible_patient
from care.models import CareTeam, Patient, Role, TeamRole
from diary.access import DiaryRights

SEVERITY_ORDER = Case(
    *(When(severity=name, then=Value(rank)) for name, rank in SEVERITY_RANK.items()),
    output_field=IntegerField(),
)


class CommaListFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """`status=open,resolved`"""


class UUIDListFilter(django_filters.BaseInFilter, django_filters.UUIDFilter):
    """`patient=<uuid>,<uuid>`: a malformed id is a 400, not a 500 from the database."""


class AlertFilter(django_filters.FilterSet):
    status = CommaListFilter(field_name="status")
    severity = CommaListFilter(field_name="severity")
    rule = CommaListFilter(field_name="rule")
    patient = UUIDListFilter(field_name="patient_id")

    class Meta:
        model = Alert
        fields = ["status", "severity", "rule", "patient"]


class MostUrgentFirst(KeysetPagination):
    ordering = ("-severity_rank", "created_at", "id")


class NamedPatientsMustBeVisible:
    """API.md: naming a patient you may not know (`?patient=`) is a 404 on every list of
    theirs, never an empty list that tells the patient exists elsewhere."""

    def filter_queryset(self, queryset):
        named = self.request.query_params.get("patient", "")
        for raw in filter(None, named.split(",")):
            try:
                visible_patient(self.request.user, uuid.UUID(raw))
            except ValueError:
                raise ValidationError({"patient": [_("Must be a valid UUID.")]}) from None
        return super().filter_queryset(queryset)


class AlertViewSet(
    NamedPatientsMustBeVisible,
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Clinicians see their teams' alerts in full; patients and caregivers only the status
    of their own."""

    filterset_class = AlertFilter
    pagination_class = MostUrgentFirst
    queryset = Alert.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        # A caregiver sees alert statuses only through a link that lets them read the diary.
        patients = DiaryRights(self.request.user).readable().values("pk")
        alerts = Alert.objects.filter(patient__in=patients).annotate(severity_rank=SEVERITY_ORDER)
        if self.action == "list" and "status" not in self.request.query_params:
            alerts = alerts.unresolved()
        if getattr(self.request.user, "role", None) == Role.CLINICIAN:
            alerts = alerts.prefetch_related("events")  # lists show events too: no query per alert
        return alerts

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):
            return AlertListItemSerializer if self.action == "list" else AlertSerializer
        if self.request.user.role == Role.CLINICIAN:
            return AlertSerializer
        return AlertStatusSerializer

    def get_object(self):
        alert = super().get_object()
        if self.request.user.role != Role.CLINICIAN:
            raise PermissionDenied
        self.audit(alert.patient_id)
        return alert

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self.audit(*(alert.patient_id for alert in page or ()))
        return page

    @extend_schema(responses=AlertSerializer)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=AcknowledgeSerializer, responses={200: AlertSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            alert = acknowledge_alert(alert=alert, by=request.user, note=body.validated_data["note"])
        except ValueError:
            raise ValidationError({"status": [_("Only an open alert can be acknowledged.")]}) from None
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=ResolveSerializer, responses={200: AlertSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = self.get_object()
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            alert = resolve_alert(alert=alert, by=request.user, resolution=body.validated_data["resolution"])
        except ValueError:
            raise ValidationError({"status": [_("This alert is already resolved.")]}) from None
        return Response(AlertSerializer(alert).data)


class ReferralFilter(django_filters.FilterSet):
    status = CommaListFilter(field_name="status")
    patient = UUIDListFilter(field_name="patient_id")

    class Meta:
        model = ReferralRecommendation
        fields = ["status", "patient"]


class ReferralViewSet(
    NamedPatientsMustBeVisible,
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ReferralSerializer
    permission_classes = [IsClinician]
    filterset_class = ReferralFilter
    queryset = ReferralRecommendation.objects.none()  # for the schema

    def get_queryset(self):
        patients = Patient.objects.visible_to(self.request.user).values("pk")
        return ReferralRecommendation.objects.filter(patient__in=patients)

    def get_object(self):
        referral = super().get_object()
        self.audit(referral.patient_id)
        return referral

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self.audit(*(r.patient_id for r in page or ()))
        return page

    def move(self, request, to: str, reason: str = "") -> Response:
        referral = self.get_object()
        try:
            referral = move_referral(referral=referral, to=to, by=request.user, reason=reason)
        except IllegalTransition as exc:
            raise ValidationError(
                {
                    "status": [
                        _("A %(status)s referral cannot become %(to)s.") % {"status": exc.args[0], "to": to}
                    ]
                }
            ) from None
        return Response(ReferralSerializer(referral).data)

    @extend_schema(request=None, responses={200: ReferralSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self.move(request, ReferralRecommendation.Status.ACCEPTED)

    @extend_schema(request=DeclineSerializer, responses={200: ReferralSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.move(request, ReferralRecommendation.Status.DECLINED, body.validated_data["reason"])

    @extend_schema(request=None, responses={200: ReferralSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self.move(request, ReferralRecommendation.Status.COMPLETED)


def require_team_admin(user, team_id) -> None:
    if not user.is_team_admin_of(team_id):
        raise PermissionDenied


class AlertRuleConfigViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Team defaults and per-patient overrides: clinicians read, team admins write."""

    serializer_class = AlertRuleConfigSerializer
    permission_classes = [IsClinician]
    http_method_names = ["get", "post", "patch", "head", "options"]
    pagination_class = None
    queryset = AlertRuleConfig.objects.none()  # for the schema

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        teams = self.request.user.memberships.values("team_id")
        return AlertRuleConfig.objects.filter(care_team__in=teams)

    def perform_create(self, serializer):
        require_team_admin(self.request.user, serializer.validated_data["care_team"].pk)
        serializer.instance = save_rule_config(config=None, data=serializer.validated_data)

    def perform_update(self, serializer):
        require_team_admin(self.request.user, serializer.instance.care_team_id)
        if "care_team" in serializer.validated_data:
            require_team_admin(self.request.user, serializer.validated_data["care_team"].pk)
        serializer.instance = save_rule_config(config=serializer.instance, data=serializer.validated_data)


class EscalationPolicyView(APIView):
    permission_classes = [IsClinician]

    def get_team(self, team_id) -> CareTeam:
        return get_object_or_404(CareTeam.objects.filter(memberships__user=self.request.user), pk=team_id)

    @extend_schema(responses={200: EscalationPolicySerializer, **ERROR_RESPONSES})
    def get(self, request, team_id):
        team = self.get_team(team_id)
        policy = EscalationPolicy.objects.filter(team=team).first() or EscalationPolicy(
            team=team, tiers=default_tiers()
        )
        return Response(EscalationPolicySerializer(policy).data)

    @extend_schema(
        request=EscalationPolicySerializer, responses={200: EscalationPolicySerializer, **ERROR_RESPONSES}
    )
    def put(self, request, team_id):
        team = self.get_team(team_id)
        if not request.user.memberships.filter(team=team, team_role=TeamRole.TEAM_ADMIN).exists():
            raise PermissionDenied
        policy = EscalationPolicy.objects.filter(team=team).first()
        serializer = EscalationPolicySerializer(policy, data=request.data, context={"team": team})
        serializer.is_valid(raise_exception=True)
        policy = save_escalation_policy(team_id=team.pk, data=serializer.validated_data)
        return Response(EscalationPolicySerializer(policy).data)
