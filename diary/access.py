"""Who may read and write whose diary, resolved with a fixed number of queries."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from care.models import CaregiverLink, Patient, Role, User

NOT_FOUND = _("Not found.")
NO_REPORTING = _("You may not report for this patient.")
WITHDRAWN = _("This patient withdrew consent: nothing more is collected.")
# DRF's own message, already translated in every language it ships.
NAME_A_PATIENT = _("This field is required.")


def readable_patients(user: User):
    """Patients whose diary this user may read: a caregiver needs a link with can_view."""
    if user.role == Role.CAREGIVER:
        return Patient.objects.filter(
            caregiver_links__caregiver=user,
            caregiver_links__revoked_at__isnull=True,
            caregiver_links__can_view=True,
        )
    return Patient.objects.visible_to(user)


class ReportingRights:
    """Resolves the `patient` a record names into a Patient the user may write for.

    Built once per request for all the patient ids it names (two queries at most), then
    answers per record: NotFound for a patient the user may not know, PermissionDenied
    for a linked caregiver without `can_report`, ValidationError when a caregiver or
    clinician names no patient. A patient always writes for themself: for them `patient`
    is a server-set field, ignored whatever it says (API.md "Conventions").
    """

    def __init__(self, user: User, requested: list[Any]):
        self.user = user
        self.own: Patient | None = None
        ids = {pid for pid in map(parse_uuid, requested) if pid is not None}
        if user.role == Role.PATIENT:
            # A patient writes for themself whatever `patient` the body names.
            self.own = Patient.objects.filter(user=user).first()
            self.patients = {self.own.pk: self.own} if self.own else {}
        elif user.role in (Role.CAREGIVER, Role.CLINICIAN):
            self.patients = {p.pk: p for p in Patient.objects.visible_to(user).filter(pk__in=ids)}
        else:
            self.patients = {}
        self.reporting: set[uuid.UUID] = set(self.patients)
        if user.role == Role.CAREGIVER:
            self.reporting = set(
                CaregiverLink.objects.active()
                .filter(caregiver=user, patient__in=list(self.patients), can_report=True)
                .values_list("patient_id", flat=True)
            )

    def resolve(self, raw: Any) -> Patient:
        if self.user.role == Role.PATIENT:
            if self.own is None:
                raise NotFound(NOT_FOUND)
            return self.own
        if raw is None or raw == "":
            raise ValidationError({"patient": [NAME_A_PATIENT]})
        patient = self.patients.get(parse_uuid(raw))
        if patient is None:
            raise NotFound(NOT_FOUND)
        if patient.pk not in self.reporting:
            raise PermissionDenied(NO_REPORTING)
        if patient.withdrawn_at is not None:
            raise PermissionDenied(WITHDRAWN)
        return patient


def parse_uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except (TypeError, ValueError, AttributeError):
        return None
