from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.views import APIView

from care.access import AuditedReadMixin, visible_patient
from care.models import Role
from diary.export import csv_lines


class CsvExportView(AuditedReadMixin, APIView):
    """One row per record, for research (clinicians)."""

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")})
    def get(self, request, patient_id):
        patient = visible_patient(request.user, patient_id)
        if request.user.role != Role.CLINICIAN:
            raise PermissionDenied
        self.audit(patient.pk)
        response = StreamingHttpResponse(csv_lines(patient), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="crossroad-{patient.pk}.csv"'
        return response
