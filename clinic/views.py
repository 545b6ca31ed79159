"""Clinician web pages: the triage list, a patient's page with the pain trend, and alert
acknowledge/resolve. Same access rules, same write paths and same audit as the API."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.actions.lifecycle import acknowledge_alert, resolve_alert
from alerts.models import Alert
from alerts.rules import RULES
from care import services
from care.access import audit_read
from care.models import CaregiverLink, Patient
from care.serializers import PatientSerializer
from clinic.apiforms import validate_with
from clinic.evidence import escalation, evidence_lines, evidence_records, referral_criteria
from clinic.forms import AcknowledgeForm, DeclineForm, InviteForm, PatientForm, ResolveForm
from clinic.record import patient_record
from clinic.signin import clinician_required


def context_form_initial(patient: Patient) -> dict:
    initial = {name: getattr(patient, name) for name in PatientForm.CONTEXT_FIELDS}
    return {name: "" if value is None else value for name, value in initial.items()}


def render_patient_page(
    request, patient: Patient, context_form: PatientForm | None = None, status: int = 200
):
    audit_read(request, [patient.pk], 200)
    record = patient_record(patient)
    context = {
        "patient": patient,
        **record,
        "criteria": referral_criteria(record["referral"]) if record["referral"] else [],
        "decline_form": DeclineForm(),
        "caregiver_links": CaregiverLink.objects.filter(patient=patient).select_related("caregiver"),
        "invite_form": InviteForm(),
        "context_form": context_form or PatientForm(context_only=True, initial=context_form_initial(patient)),
    }
    return render(request, "clinic/patient.html", context, status=status)


def visible_patient(request, patient_id) -> Patient:
    return get_object_or_404(
        Patient.objects.visible_to(request.user).select_related("care_team"), pk=patient_id
    )


@clinician_required
def patient_page(request, patient_id):
    return render_patient_page(request, visible_patient(request, patient_id))


@require_POST
@clinician_required
def edit_context(request, patient_id):
    """The clinical context (flags #5-#8, baseline MME, pump) as `PATCH patients/{id}/`."""
    patient = visible_patient(request, patient_id)
    form = PatientForm(request.POST, context_only=True)
    if form.is_valid():
        serializer = PatientSerializer(
            patient, data=form.api_payload(), partial=True, context={"request": request}
        )
        data = validate_with(form, serializer)
        if data is not None:
            services.update_patient(patient=patient, data=data)
            messages.success(request, _("Clinical context saved."))
            return redirect(f"{reverse('clinic:patient', args=[patient.pk])}#context")
    return render_patient_page(request, patient, context_form=form)


def _alert_for(request, alert_id) -> Alert:
    visible = Patient.objects.visible_to(request.user).values("pk")
    return get_object_or_404(
        Alert.objects.select_related("patient", "patient__care_team").filter(patient__in=visible), pk=alert_id
    )


@clinician_required
def alert_page(request, alert_id):
    alert = _alert_for(request, alert_id)
    audit_read(request, [alert.patient_id], 200)
    context = {
        "alert": alert,
        "lines": evidence_lines(alert),
        "records": evidence_records(alert),
        "escalation": escalation(alert),
        "rule_label": RULES[alert.rule].label,
        "events": alert.events.select_related("actor"),
        "acknowledge_form": AcknowledgeForm(),
        "resolve_form": ResolveForm(),
    }
    return render(request, "clinic/alert.html", context)


@require_POST
@clinician_required
def acknowledge(request, alert_id):
    alert = _alert_for(request, alert_id)
    form = AcknowledgeForm(request.POST)
    try:
        if not form.is_valid():
            raise ValueError("invalid form")
        acknowledge_alert(alert=alert, by=request.user, note=form.cleaned_data["note"])
    except ValueError:  # not open any more, perhaps acknowledged by a colleague just now
        messages.error(request, _("Only an open alert can be acknowledged."))
    else:
        messages.success(request, _("Alert acknowledged: escalation stopped."))
    return redirect("clinic:alert", alert_id=alert.pk)


@require_POST
@clinician_required
def resolve(request, alert_id):
    alert = _alert_for(request, alert_id)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say how the alert was resolved."))
    else:
        try:
            resolve_alert(alert=alert, by=request.user, resolution=form.cleaned_data["resolution"])
        except ValueError:  # resolved meanwhile
            messages.error(request, _("This alert is already resolved."))
        else:
            messages.success(request, _("Alert resolved."))
    return redirect("clinic:alert", alert_id=alert.pk)
