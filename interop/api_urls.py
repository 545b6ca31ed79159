"""Routes of the interop app under /api/v1/ (the FHIR API itself is under /fhir/)."""

from django.urls import path

from interop.export_views import FhirExportView
from interop.team_views import FhirEndpointView

urlpatterns = [
    path("patients/<uuid:patient_id>/fhir/", FhirExportView.as_view(), name="patient-fhir"),
    path("teams/<uuid:team_id>/fhir-endpoint/", FhirEndpointView.as_view(), name="fhir-endpoint"),
]
