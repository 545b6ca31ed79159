"""Enrolling a patient from the clinic: the `POST patients/` form, then the invite code
shown once as text and as a QR code of the patient app's enrollment link; new invites and
caregiver links with revoke. Same validation and write paths as the API."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from care import services
from care.access import audit_read
from care.models import CaregiverLink, Invite, Patient, Role, TeamMembership
from care.serializers import InviteSerializer, PatientSerializer
from clinic.apiforms import validate_with
from clinic.forms import InviteForm, PatientForm
from clinic.signin import clinician_required


def api_context(request) -> dict:
    """The API serializers read only `request.user`, which a Django request has too."""
    return {"request": request}


def invite_link(code: str) -> str:
    return f"{settings.PUBLIC_URL}/app/#enroll={code}"


def invite_page(request, patient: Patient, invite: Invite, code: str):
    link = invite_link(code)
    audit_read(request, [patient.pk], 200)
    context = {
        "patient": patient,
        "invite": invite,
        "code": code,
        "link": link,
        "qr": segno.make(link, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff"),
    }
    return render(request, "clinic/invite.html", context)


@clinician_required
def enroll(request):
    teams = [m.team for m in TeamMembership.objects.filter(user=request.user).select_related("team")]
    form = PatientForm(
        request.POST or None,
        teams=teams,
        initial={"timezone": request.user.timezone, "language": request.user.language},
    )
    if request.method == "POST" and form.is_valid():
        serializer = PatientSerializer(data=form.api_payload(), context=api_context(request))
        data = validate_with(form, serializer)
        if data is not None:
            patient = services.create_patient(data=data)
            invite, code = services.issue_invite(patient=patient, by=request.user, role=Role.PATIENT)
            return invite_page(request, patient, invite, code)
    return render(request, "clinic/enroll.html", {"form": form})


def visible_patient(request, patient_id) -> Patient:
    return get_object_or_404(
        Patient.objects.visible_to(request.user).select_related("care_team"), pk=patient_id
    )


@require_POST
@clinician_required
def new_patient_invite(request, patient_id):
    patient = visible_patient(request, patient_id)
    serializer = InviteSerializer(
        data={"role": Role.PATIENT}, context={**api_context(request), "patient": patient}
    )
    if not serializer.is_valid():
        messages.error(request, " ".join(str(e) for e in serializer.errors.get("role", [])))
        return redirect("clinic:patient", patient_id=patient.pk)
    invite, code = services.reissue_invite(patient=patient, by=request.user)
    return invite_page(request, patient, invite, code)


@require_POST
@clinician_required
def caregiver_invite(request, patient_id):
    patient = visible_patient(request, patient_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        serializer = InviteSerializer(
            data={"role": Role.CAREGIVER, **form.cleaned_data},
            context={**api_context(request), "patient": patient},
        )
        data = validate_with(form, serializer)
        if data is not None:
            invite, code = services.issue_invite(patient=patient, by=request.user, **data)
            return invite_page(request, patient, invite, code)
    messages.error(request, _("The caregiver invite could not be made: check the form."))
    return redirect("clinic:patient", patient_id=patient.pk)


@require_POST
@clinician_required
def revoke_caregiver(request, patient_id, link_id):
    patient = visible_patient(request, patient_id)
    link = get_object_or_404(CaregiverLink.objects.active(), patient=patient, pk=link_id)
    services.revoke_caregiver_link(link=link)
    messages.success(request, _("The caregiver's access is revoked."))
    return redirect("clinic:patient", patient_id=patient.pk)
