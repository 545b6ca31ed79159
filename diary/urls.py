from django.urls import path
from rest_framework.routers import SimpleRouter

from diary import views
from diary.catalog_views import CatalogView
from diary.changes_views import ChangesView
from diary.export_views import CsvExportView

router = SimpleRouter()
router.register("diary/checkins", views.CheckInViewSet, basename="checkin")
router.register("diary/adverse-effects", views.AdverseEffectViewSet, basename="adverse-effect")
router.register("diary/boluses", views.PtaBolusViewSet, basename="bolus")
router.register("diary/medications", views.MedicationDoseViewSet, basename="medication")

urlpatterns = [
    path("catalog/", CatalogView.as_view(), name="catalog"),
    path("sync/", views.SyncView.as_view(), name="sync"),
    path("sync/changes/", ChangesView.as_view(), name="sync-changes"),
    path("patients/<str:patient_id>/summary/", views.SummaryView.as_view(), name="patient-summary"),
    path("patients/<uuid:patient_id>/export.csv", CsvExportView.as_view(), name="patient-export-csv"),
    *router.urls,
]
