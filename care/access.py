"""Request-level access helpers shared by every app's views: who may act for a patient,
and the audit of reads by anyone other than the patient."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.generics import get_object_or_404
from rest_framework.permissions import SAFE_METHODS, BasePermission

from care.models import AccessEvent, CaregiverLink, Patient, Role, User


class IsClinician(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user.is_authenticated and request.user.role == Role.CLINICIAN)


class CanChangePatient(BasePermission):
    """Caregivers change a patient's record only through a link that lets them report."""

    def has_object_permission(self, request, view, obj: Patient) -> bool:
        if request.method in SAFE_METHODS or request.user.role != Role.CAREGIVER:
            return True
        link = caregiver_link(request.user, obj)
        return bool(link and link.can_report)


def visible_patient(user: User, patient_id) -> Patient:
    """The patient, if this user may know it exists; else 404 (a malformed id included)."""
    return get_object_or_404(Patient.objects.visible_to(user), pk=patient_id)


def caregiver_link(user: User, patient: Patient) -> CaregiverLink | None:
    if user.role != Role.CAREGIVER:
        return None
    return CaregiverLink.objects.active().filter(caregiver=user, patient=patient).first()


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def audit_read(request, patient_ids: Iterable, status_code: int) -> None:
    """One AccessEvent per read of patient data by someone other than the patient."""
    user = request.user
    ids = sorted({str(pk) for pk in patient_ids})
    if not ids or not user.is_authenticated:
        return
    own = getattr(user, "patient", None) if user.role == Role.PATIENT else None
    if own is not None and ids == [str(own.pk)]:
        return
    AccessEvent.objects.create(
        actor=user,
        actor_role=user.role,
        method=request.method,
        path=request.path[:300],
        status_code=status_code,
        patient_ids=ids,
        client_ip=client_ip(request),
    )


class AuditedReadMixin:
    """Views set `self.audited_patient_ids` while reading; the read is logged on success."""

    audited_patient_ids: set | None = None

    def audit(self, *patient_ids) -> None:
        if self.audited_patient_ids is None:
            self.audited_patient_ids = set()
        self.audited_patient_ids.update(patient_ids)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "GET" and self.audited_patient_ids and response.status_code < 300:
            audit_read(request, self.audited_patient_ids, response.status_code)
        return response
