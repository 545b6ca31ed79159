from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.errors import ERROR_RESPONSES, THROTTLED_RESPONSES
from care import lockout
from care.access import client_ip
from care.lockout import AddressRateThrottle
from care.models import Patient, Role
from privacy import services


def require_patient(request) -> None:
    if request.user.role != Role.PATIENT or not Patient.objects.filter(user=request.user).exists():
        raise PermissionDenied(_("Only a patient can export or erase their own data."))


class ExportView(APIView):
    """Everything Crossroad holds about me (the patient), as JSON."""

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="All of my data")})
    def get(self, request):
        require_patient(request)
        return Response(services.export_patient(user=request.user, request=request))


class EraseSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    confirm = serializers.BooleanField()

    def validate_password(self, value: str) -> str:
        if not lockout.verify_password(user=self.context["request"].user, password=value):
            raise serializers.ValidationError(_("The password is wrong."))
        return value

    def validate_confirm(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(_("Confirm that you withdraw your consent."))
        return value


class EraseView(APIView):
    """Withdraw consent: collection stops at once and identifying data is erased."""

    throttle_classes = [AddressRateThrottle]  # it checks a password

    @extend_schema(
        request=EraseSerializer,
        responses={
            200: inline_serializer("Erased", fields={"withdrawn_at": serializers.DateTimeField()}),
            **ERROR_RESPONSES,
            **THROTTLED_RESPONSES,
        },
    )
    def post(self, request):
        require_patient(request)
        body = EraseSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        patient = services.withdraw_consent(user=request.user, client_ip=client_ip(request))
        return Response({"withdrawn_at": patient.withdrawn_at})
