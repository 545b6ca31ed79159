from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from backend.health import healthz
from care.lockout import address_limited
from clinic.forms import AdminLoginForm

# The admin login is the most powerful one: the same lockout and address budget as the API.
admin.site.login_form = AdminLoginForm
admin.site.login = address_limited(admin.site.login)

api = [
    path("", include("privacy.urls")),
    path("", include("care.urls")),
    path("", include("diary.urls")),
    path("", include("alerts.urls")),
    path("", include("interop.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("clinic/", include("clinic.urls")),
    path("app/", include("patientapp.urls")),
    path("api/v1/", include(api)),
    path("fhir/", include("interop.urls")),
]

# Unknown URLs and malformed ids under /api/ answer in the API's JSON shape.
handler404 = "backend.errors.not_found"
