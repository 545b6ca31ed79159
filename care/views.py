from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from backend.errors import ERROR_RESPONSES
from care import services
from care.access import AuditedReadMixin, IsClinician, caregiver_link, visible_patient
from care.models import CaregiverLink, Patient, Role, TeamMembership
from care.serializers import (
    CaregiverLinkSerializer,
    DeviceSerializer,
    InviteSerializer,
    MeSerializer,
    PatientSelfSerializer,
    PatientSerializer,
    TeamSerializer,
)


class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        serializer.instance = services.update_profile(user=self.request.user, data=serializer.validated_data)


class DeviceView(generics.CreateAPIView):
    serializer_class = DeviceSerializer

    def perform_create(self, serializer):
        serializer.instance = services.register_device(user=self.request.user, **serializer.validated_data)


class TeamViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = TeamSerializer
    permission_classes = [IsClinician]
    pagination_class = None

    def get_queryset(self):
        return (
            TeamMembership.objects.filter(user=self.request.user)
            .select_related("team")
            .order_by("team__name")
        )


class PatientViewSet(
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = PatientSerializer

    def get_queryset(self):
        return Patient.objects.visible_to(self.request.user).order_by("display_name", "id")

    def get_serializer_class(self):
        if self.action == "partial_update" and self.request.user.role != Role.CLINICIAN:
            return PatientSelfSerializer
        return super().get_serializer_class()

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self.audit(*(p.pk for p in page or ()))
        return page

    def get_object(self):
        patient = super().get_object()
        self.audit(patient.pk)
        return patient

    def create(self, request, *args, **kwargs):
        if request.user.role != Role.CLINICIAN:
            raise PermissionDenied
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.create_patient(data=serializer.validated_data)

    def perform_update(self, serializer):
        patient = serializer.instance
        link = caregiver_link(self.request.user, patient)
        if self.request.user.role == Role.CAREGIVER and not (link and link.can_report):
            raise PermissionDenied
        serializer.instance = services.update_patient(patient=patient, data=serializer.validated_data)

    @extend_schema(request=InviteSerializer, responses={201: InviteSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def invites(self, request, pk=None):
        patient = visible_patient(request.user, pk)
        if request.user.role not in (Role.CLINICIAN, Role.PATIENT):
            raise PermissionDenied
        serializer = InviteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        invite, code = services.issue_invite(patient=patient, by=request.user, **serializer.validated_data)
        body = {**InviteSerializer(invite).data, "code": code}
        return Response(body, status=status.HTTP_201_CREATED)


class CaregiverLinkViewSet(
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A patient's caregivers, managed by the patient or their clinicians."""

    serializer_class = CaregiverLinkSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    pagination_class = None

    def get_patient(self) -> Patient:
        patient = visible_patient(self.request.user, self.kwargs["patient_pk"])
        if self.request.user.role not in (Role.PATIENT, Role.CLINICIAN):
            raise PermissionDenied
        return patient

    def get_queryset(self):
        patient = self.get_patient()
        self.audit(patient.pk)
        return CaregiverLink.objects.filter(patient=patient).select_related("caregiver")

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def perform_update(self, serializer):
        serializer.instance = services.update_caregiver_link(
            link=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        with transaction.atomic():
            services.revoke_caregiver_link(link=instance)
