from django.urls import path

from patientapp import views

app_name = "patientapp"
urlpatterns = [
    path("", views.shell, name="shell"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("i18n/<str:language>.json", views.strings, name="strings"),
]
