"""GET patients/{id}/fhir/: the patient's whole record as a FHIR R4 `collection` Bundle."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from care.access import AuditedReadMixin, visible_patient
from care.models import Role
from interop.bundles import collection_bundle


class FhirExportView(AuditedReadMixin, APIView):
    """The patient's diary, alerts and referrals as a FHIR R4 `collection` Bundle
    (clinicians and the patient)."""

    @extend_schema(
        responses={
            (200, "application/fhir+json"): OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR R4 Bundle")
        }
    )
    def get(self, request, patient_id):
        patient = visible_patient(request.user, patient_id)
        if request.user.role not in (Role.CLINICIAN, Role.PATIENT):
            raise PermissionDenied
        self.audit(patient.pk)
        return Response(collection_bundle(patient), content_type="application/fhir+json")
