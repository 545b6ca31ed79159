"""Who may do what with whose diary: one rights object, decided from the database on every
request (API.md "Diary"), with a fixed number of queries.

| caller    | read                     | report (create)             | correct / retract                        |
|-----------|--------------------------|-----------------------------|------------------------------------------|
| patient   | own                      | own                         | own                                      |
| caregiver | a linked patient, can_view | a linked patient, can_report | a linked patient, can_view and can_report |
| clinician | their teams' patients    | their teams' patients       | their teams' patients                    |

A patient the caller may not know is a 404 everywhere; a known one the caller may not act
on is a 403. A patient who withdrew consent receives no new record, correction or
retraction: collection stopped (SPEC "Privacy").
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from care.models import CaregiverLink, Patient, Role, User

NOT_FOUND = _("Not found.")
NO_REPORTING = _("You may not report for this patient.")
NO_VIEWING = _("You may not see this patient's diary.")
WITHDRAWN = _("This patient withdrew consent: nothing more is collected.")
# DRF's own message, already translated in every language it ships.
NAME_A_PATIENT = _("This field is required.")


class DiaryRights:
    def __init__(self, user: User):
        self.user = user
        self.role = user.role
        self._known: dict[uuid.UUID, Patient] = {}
        self._asked: set[uuid.UUID] = set()  # ids looked up, found or not

    @cached_property
    def links(self) -> dict[uuid.UUID, CaregiverLink]:
        """A caregiver's active links by patient (one query; empty for anyone else)."""
        if self.role != Role.CAREGIVER:
            return {}
        return {link.patient_id: link for link in CaregiverLink.objects.active().filter(caregiver=self.user)}

    @cached_property
    def own(self) -> Patient | None:
        if self.role != Role.PATIENT:
            return None
        try:
            return self.user.patient  # read with the user by backend.authentication
        except Patient.DoesNotExist:
            return None

    def readable(self):
        """Patients whose diary this user may read."""
        if self.role == Role.CAREGIVER:
            return Patient.objects.filter(pk__in=[pk for pk, link in self.links.items() if link.can_view])
        return Patient.objects.visible_to(self.user)

    def may_read(self, patient: Patient) -> bool:
        if self.role == Role.CAREGIVER:
            link = self.links.get(patient.pk)
            return bool(link and link.can_view)
        return self.role in (Role.PATIENT, Role.CLINICIAN)

    def may_report(self, patient: Patient) -> bool:
        if self.role == Role.CAREGIVER:
            link = self.links.get(patient.pk)
            return bool(link and link.can_report)
        return self.role in (Role.PATIENT, Role.CLINICIAN)

    def check_read(self, patient: Patient) -> None:
        if not self.may_read(patient):
            raise PermissionDenied(NO_VIEWING)

    def check_report(self, patient: Patient) -> None:
        if not self.may_report(patient):
            raise PermissionDenied(NO_REPORTING)
        if patient.withdrawn_at is not None:
            raise PermissionDenied(WITHDRAWN)

    def check_change(self, patient: Patient) -> None:
        """Correcting or retracting shows the record back: it takes both rights."""
        self.check_report(patient)
        self.check_read(patient)

    def know(self, requested: list[Any]) -> None:
        """Load, in one query, the patients a batch names that this user may know."""
        if self.role in (Role.CAREGIVER, Role.CLINICIAN):
            ids = {pid for pid in map(parse_uuid, requested) if pid is not None} - self._asked
            if ids:
                self._asked |= ids
                self._known.update(
                    (p.pk, p) for p in Patient.objects.visible_to(self.user).filter(pk__in=ids)
                )

    def reporting_patient(self, raw: Any) -> Patient:
        """The patient a new record is for. A patient always writes for themself: for them
        `patient` is a server-set field, ignored whatever it says (API.md "Conventions")."""
        if self.role == Role.PATIENT:
            if self.own is None:
                raise NotFound(NOT_FOUND)
            patient = self.own
        elif self.role in (Role.CAREGIVER, Role.CLINICIAN):
            if raw is None or raw == "":
                raise ValidationError({"patient": [NAME_A_PATIENT]})
            self.know([raw])
            patient = self._known.get(parse_uuid(raw))
            if patient is None:
                raise NotFound(NOT_FOUND)
        else:
            raise NotFound(NOT_FOUND)
        self.check_report(patient)
        return patient


def parse_uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except (TypeError, ValueError, AttributeError):
        return None
