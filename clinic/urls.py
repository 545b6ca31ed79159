from django.contrib.auth import views as auth_views
from django.urls import path

from care.auth import address_limited
from clinic import enrollment, referral, signin, team, triage, views

app_name = "clinic"

urlpatterns = [
    path("login/", address_limited(signin.LoginView.as_view()), name="login"),
    path("login/code/", address_limited(signin.login_code), name="login_code"),
    path("login/authenticator/", address_limited(signin.authenticator), name="authenticator"),
    path("account/", signin.account, name="account"),
    path("logout/", auth_views.LogoutView.as_view(next_page="clinic:login"), name="logout"),
    path("", triage.triage, name="triage"),
    path("enroll/", enrollment.enroll, name="enroll"),
    path("team/", team.team_settings, name="team_settings"),
    path("team/rules/", team.save_rule, name="team_rule"),
    path("team/escalation/", team.save_escalation, name="team_escalation"),
    path("team/webhook/", team.save_webhook, name="team_webhook"),
    path("team/webhook/rotate/", team.rotate_webhook_secret, name="team_webhook_rotate"),
    path("team/digest/", team.save_digest, name="team_digest"),
    path("access-log/", team.access_log, name="access_log"),
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient"),
    path("patients/<uuid:patient_id>/referral/", referral.summary, name="referral_summary"),
    path("patients/<uuid:patient_id>/referral.pdf", referral.summary_pdf, name="referral_pdf"),
    path("referrals/<uuid:referral_id>/accept/", referral.move, {"verb": "accept"}, name="referral_accept"),
    path(
        "referrals/<uuid:referral_id>/decline/", referral.move, {"verb": "decline"}, name="referral_decline"
    ),
    path(
        "referrals/<uuid:referral_id>/complete/",
        referral.move,
        {"verb": "complete"},
        name="referral_complete",
    ),
    path("patients/<uuid:patient_id>/context/", views.edit_context, name="edit_context"),
    path("patients/<uuid:patient_id>/invite/", enrollment.new_patient_invite, name="patient_invite"),
    path(
        "patients/<uuid:patient_id>/caregiver-invite/", enrollment.caregiver_invite, name="caregiver_invite"
    ),
    path(
        "patients/<uuid:patient_id>/caregivers/<uuid:link_id>/revoke/",
        enrollment.revoke_caregiver,
        name="revoke_caregiver",
    ),
    path("alerts/<uuid:alert_id>/", views.alert_page, name="alert"),
    path("alerts/<uuid:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("alerts/<uuid:alert_id>/resolve/", views.resolve, name="resolve"),
]
