from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from backend.errors import ERROR_RESPONSES, detail_response
from backend.pagination import CursorPagination, KeysetPagination
from care import services, vapid
from care.access import AuditedReadMixin, CanChangePatient, IsClinician, visible_patient
from care.models import CaregiverLink, Patient, Role, TeamMembership
from care.serializers import (
    CaregiverLinkSerializer,
    DeviceRemovalSerializer,
    DeviceSerializer,
    InviteSerializer,
    MeSerializer,
    PatientListItemSerializer,
    PatientSelfSerializer,
    PatientSerializer,
    TeamSerializer,
    TriageSerializer,
    WebPushKeySerializer,
)

WEBPUSH_OFF = _("Web Push is not configured on this server.")


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

    @extend_schema(request=DeviceRemovalSerializer, responses={204: None, **ERROR_RESPONSES})
    def delete(self, request):
        """The phone stops receiving pushes (logout, uninstall). Another user's token or an
        unknown one changes nothing and answers the same."""
        serializer = DeviceRemovalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.remove_device(token=serializer.validated_data["token"], user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebPushKeyView(generics.GenericAPIView):
    """The server's VAPID public key, for PushManager.subscribe (no login needed)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = WebPushKeySerializer

    @extend_schema(responses={200: WebPushKeySerializer, 404: detail_response("Web Push is not configured.")})
    def get(self, request):
        try:
            key = vapid.public_key()
        except vapid.PushNotConfigured:
            raise NotFound(WEBPUSH_OFF) from None
        return Response({"public_key": key})


class TeamViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = TeamSerializer
    permission_classes = [IsClinician]
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return TeamMembership.objects.none()
        return (
            TeamMembership.objects.filter(user=self.request.user)
            .select_related("team")
            .order_by("team__name")
        )


class PatientPagination(CursorPagination):
    ordering = ("display_name", "id")


class TriagePagination(KeysetPagination):
    """API.md triage order, kept whole in one unique key of the status row
    (care.models.triage_key), so the cursor is exact however many patients tie.

    The key holds the patient's name: the cursor carries only the patient's id, and the
    key is looked up again on the next request (URLs end up in logs and histories).
    """

    ordering = ("triage",)

    def values(self, row) -> list:
        return [str(row.pk)]

    def decode(self, raw):
        cursor = super().decode(raw)
        if cursor is None:
            return None
        direction, [patient_id] = cursor
        try:
            patient = self.queryset.get(pk=patient_id)
        except (Patient.DoesNotExist, ValueError, ValidationError):
            raise NotFound(self.invalid_cursor) from None
        return direction, [patient.triage]

    def paginate_queryset(self, queryset, request, view=None):
        self.queryset = queryset
        return super().paginate_queryset(queryset, request, view)


# Any path segment reaches the view, whose lookup answers a malformed id with the API's
# JSON 404 rather than Django's HTML page for an unknown URL.
ANY_ID = "[^/]+"


@extend_schema_view(list=extend_schema(responses=PatientListItemSerializer))
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
    permission_classes = [IsAuthenticated, CanChangePatient]
    lookup_value_regex = ANY_ID

    def is_triage(self) -> bool:
        return self.action == "list" and self.request.user.role == Role.CLINICIAN

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = TriagePagination() if self.is_triage() else PatientPagination()
        return self._paginator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Patient.objects.none()
        if self.is_triage():
            return Patient.objects.in_triage_order(self.request.user)
        return Patient.objects.visible_to(self.request.user)

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):
            return TriageSerializer if self.action == "list" else PatientSerializer
        if self.action == "partial_update" and self.request.user.role != Role.CLINICIAN:
            return PatientSelfSerializer
        if self.is_triage():
            return TriageSerializer
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
        serializer.instance = services.update_patient(
            patient=serializer.instance, data=serializer.validated_data
        )

    @extend_schema(request=InviteSerializer, responses={201: InviteSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def invites(self, request, pk=None):
        patient = visible_patient(request.user, pk)
        if request.user.role not in (Role.CLINICIAN, Role.PATIENT):
            raise PermissionDenied
        serializer = InviteSerializer(data=request.data, context={"request": request, "patient": patient})
        serializer.is_valid(raise_exception=True)
        invite, code = services.issue_invite(patient=patient, by=request.user, **serializer.validated_data)
        body = {**InviteSerializer(invite).data, "code": code}
        return Response(body, status=status.HTTP_201_CREATED)


_PATIENT_PK = OpenApiParameter("patient_pk", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(parameters=[_PATIENT_PK]),
    partial_update=extend_schema(parameters=[_PATIENT_PK]),
    destroy=extend_schema(parameters=[_PATIENT_PK]),
)
class CaregiverLinkViewSet(
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A patient's caregivers, managed by the patient or their clinicians."""

    serializer_class = CaregiverLinkSerializer
    lookup_value_regex = ANY_ID
    http_method_names = ["get", "patch", "delete", "head", "options"]
    pagination_class = None

    def get_patient(self) -> Patient:
        patient = visible_patient(self.request.user, self.kwargs["patient_pk"])
        if self.request.user.role not in (Role.PATIENT, Role.CLINICIAN):
            raise PermissionDenied
        return patient

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no patient
            return CaregiverLink.objects.none()
        patient = self.get_patient()
        self.audit(patient.pk)
        return CaregiverLink.objects.filter(patient=patient).select_related("caregiver")

    def get_object(self):
        return generics.get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def perform_update(self, serializer):
        serializer.instance = services.update_caregiver_link(
            link=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        with transaction.atomic():
            services.revoke_caregiver_link(link=instance)
