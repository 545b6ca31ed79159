from django.contrib.auth import views as auth_views
from django.urls import path

from care.auth import address_limited
from clinic import signin, triage, views

app_name = "clinic"

urlpatterns = [
    path("login/", address_limited(signin.LoginView.as_view()), name="login"),
    path("login/code/", address_limited(signin.login_code), name="login_code"),
    path("login/authenticator/", address_limited(signin.authenticator), name="authenticator"),
    path("account/", signin.account, name="account"),
    path("logout/", auth_views.LogoutView.as_view(next_page="clinic:login"), name="logout"),
    path("", triage.triage, name="triage"),
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient"),
    path("alerts/<uuid:alert_id>/", views.alert_page, name="alert"),
    path("alerts/<uuid:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("alerts/<uuid:alert_id>/resolve/", views.resolve, name="resolve"),
]
