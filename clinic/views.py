"""Clinician web pages: the triage list, a patient's page with the pain trend, and alert
acknowledge/resolve. Same access rules, same write paths and same audit as the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from alerts import services as alert_services
from alerts.models import Alert, ReferralRecommendation
from alerts.texts import RULE_LABELS
from care.access import audit_read
from care.models import Patient, Role
from care.views import TriagePagination
from clinic.charts import pain_chart
from clinic.forms import AcknowledgeForm, ClinicianLoginForm, ResolveForm
from diary.summary import daily_summary

clinician_required = user_passes_test(
    lambda u: u.is_authenticated and u.role == Role.CLINICIAN, login_url="clinic:login"
)


class LoginView(auth_views.LoginView):
    template_name = "clinic/login.html"
    authentication_form = ClinicianLoginForm
    redirect_authenticated_user = True


@login_required(login_url="clinic:login")
@clinician_required
def triage(request):
    # The API's list and its keyset cursor: a page is one range of the (care_team,
    # triage_key) index however large the team, where a page number needed a count and
    # an offset through the whole team.
    pager = TriagePagination()
    try:
        page = pager.paginate_queryset(
            Patient.objects.in_triage_order(request.user).select_related("care_team"), Request(request)
        )
    except NotFound:
        raise Http404 from None
    audit_read(request, [p.pk for p in page], 200)
    links = {
        "next_url": pager.link("after", page[-1]) if pager.has_next and page else None,
        "previous_url": pager.link("before", page[0]) if pager.has_previous and page else None,
    }
    return render(request, "clinic/triage.html", {"page": page, **links})


@login_required(login_url="clinic:login")
@clinician_required
def patient_page(request, patient_id):
    patient = get_object_or_404(
        Patient.objects.visible_to(request.user).select_related("care_team"), pk=patient_id
    )
    summary = daily_summary(patient, 28)
    alerts = Alert.objects.filter(patient=patient).order_by("-created_at")[:50]
    referral = ReferralRecommendation.objects.filter(patient=patient).order_by("-created_at").first()
    audit_read(request, [patient.pk], 200)
    context = {
        "patient": patient,
        "summary": summary,
        "chart": pain_chart(summary["days"]),
        "alerts": [(alert, RULE_LABELS[alert.rule]) for alert in alerts],
        "referral": referral,
    }
    return render(request, "clinic/patient.html", context)


def _alert_for(request, alert_id) -> Alert:
    visible = Patient.objects.visible_to(request.user).values("pk")
    return get_object_or_404(Alert.objects.select_related("patient").filter(patient__in=visible), pk=alert_id)


@login_required(login_url="clinic:login")
@clinician_required
def alert_page(request, alert_id):
    alert = _alert_for(request, alert_id)
    audit_read(request, [alert.patient_id], 200)
    details = {
        key.replace("_", " "): ", ".join(map(str, value)) if isinstance(value, list) else value
        for key, value in alert.evidence.items()
        if key != "days"
    }
    context = {
        "alert": alert,
        "details": details,
        "rule_label": RULE_LABELS[alert.rule],
        "events": alert.events.select_related("actor"),
        "acknowledge_form": AcknowledgeForm(),
        "resolve_form": ResolveForm(),
    }
    return render(request, "clinic/alert.html", context)


@require_POST
@login_required(login_url="clinic:login")
@clinician_required
def acknowledge(request, alert_id):
    alert = _alert_for(request, alert_id)
    form = AcknowledgeForm(request.POST)
    try:
        if not form.is_valid():
            raise ValueError("invalid form")
        alert_services.acknowledge_alert(alert=alert, by=request.user, note=form.cleaned_data["note"])
    except ValueError:  # not open any more, perhaps acknowledged by a colleague just now
        messages.error(request, _("Only an open alert can be acknowledged."))
    else:
        messages.success(request, _("Alert acknowledged: escalation stopped."))
    return redirect("clinic:alert", alert_id=alert.pk)


@require_POST
@login_required(login_url="clinic:login")
@clinician_required
def resolve(request, alert_id):
    alert = _alert_for(request, alert_id)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say how the alert was resolved."))
    else:
        try:
            alert_services.resolve_alert(
                alert=alert, by=request.user, resolution=form.cleaned_data["resolution"]
            )
        except ValueError:  # resolved meanwhile
            messages.error(request, _("This alert is already resolved."))
        else:
            messages.success(request, _("Alert resolved."))
    return redirect("clinic:alert", alert_id=alert.pk)
