from django.urls import path
from rest_framework.routers import SimpleRouter

from alerts import views

router = SimpleRouter()
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("referrals", views.ReferralViewSet, basename="referral")
router.register("alert-rules", views.AlertRuleConfigViewSet, basename="alert-rule")

urlpatterns = [
    path(
        "teams/<uuid:team_id>/escalation-policy/",
        views.EscalationPolicyView.as_view(),
        name="escalation-policy",
    ),
    *router.urls,
]
