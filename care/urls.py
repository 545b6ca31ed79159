from django.urls import path
from rest_framework.routers import SimpleRouter

from care import auth, views

router = SimpleRouter()
router.register("teams", views.TeamViewSet, basename="team")
router.register("patients", views.PatientViewSet, basename="patient")
router.register(
    r"patients/(?P<patient_pk>[^/]+)/caregivers",
    views.CaregiverLinkViewSet,
    basename="caregiver-link",
)

urlpatterns = [
    path("auth/token/", auth.LoginView.as_view(), name="token"),
    path("auth/token/refresh/", auth.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("auth/enroll/", auth.EnrollView.as_view(), name="enroll"),
    path("auth/password/", auth.PasswordChangeView.as_view(), name="password-change"),
    path("me/", views.MeView.as_view(), name="me"),
    path("devices/", views.DeviceView.as_view(), name="devices"),
    path("devices/webpush-key/", views.WebPushKeyView.as_view(), name="webpush-key"),
    *router.urls,
]
