"""The FHIR REST API and Bulk Data export under /fhir/ (API.md "FHIR")."""

from django.urls import path

from interop import bulk_views
from interop import fhir_views as views
from interop.sources import SEARCHES

urlpatterns = [
    path("auth/token", bulk_views.TokenView.as_view(), name="fhir-token"),
    path(
        ".well-known/smart-configuration",
        bulk_views.SmartConfigurationView.as_view(),
        name="smart-configuration",
    ),
    path("Group/<str:team_id>", bulk_views.GroupReadView.as_view(), name="fhir-group"),
    path("Group/<str:team_id>/$export", bulk_views.ExportKickOffView.as_view(), name="fhir-group-export"),
    path("bulk-status/<str:export_id>", bulk_views.ExportStatusView.as_view(), name="fhir-bulk-status"),
    path(
        "bulk-status/<str:export_id>/<str:resource_type>.ndjson",
        bulk_views.ExportFileView.as_view(),
        name="fhir-bulk-file",
    ),
    path("metadata", views.MetadataView.as_view(), name="fhir-metadata"),
    path("Patient/<str:patient_id>", views.PatientReadView.as_view(), name="fhir-patient"),
    path("Patient/<str:patient_id>/$everything", views.EverythingView.as_view(), name="fhir-everything"),
    path("Questionnaire/<str:resource_id>", views.QuestionnaireView.as_view(), name="fhir-questionnaire"),
    path("CodeSystem/<str:resource_id>", views.CodeSystemView.as_view(), name="fhir-codesystem"),
    path("Practitioner/<str:resource_id>", views.PractitionerReadView.as_view(), name="fhir-practitioner"),
    path("Subscription/<str:resource_id>", views.SubscriptionReadView.as_view(), name="fhir-subscription"),
    *(
        path(
            resource_type,
            views.SearchView.as_view(resource_type=resource_type),
            name=f"fhir-search-{resource_type}",
        )
        for resource_type in SEARCHES
    ),
    *(
        path(
            f"{resource_type}/<str:resource_id>",
            views.ReadView.as_view(resource_type=resource_type),
            name=f"fhir-read-{resource_type}",
        )
        for resource_type in views.READS
    ),
]
