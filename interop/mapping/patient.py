"""Patient, the caregivers who report for them (RelatedPerson) and the clinicians who
report or decide (Practitioner)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from care.models import CaregiverLink, Patient, User
from interop.mapping.common import Resource, coding, fhir_base, instant, ref


def patient_resource(patient: Patient) -> Resource:
    return {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": {"lastUpdated": instant(patient.updated_at)},
        "identifier": [{"system": f"{settings.PUBLIC_URL}/patients", "value": str(patient.pk)}],
        # Withdrawn patients keep a pseudonym and stop being followed.
        "active": patient.withdrawn_at is None,
        "name": [{"text": patient.display_name}],
        "communication": [
            {
                "language": {"coding": [coding("urn:ietf:bcp:47", patient.language)]},
                "preferred": True,
            }
        ],
        "managingOrganization": {"display": patient.care_team.name},
    }


def related_person_resource(link: CaregiverLink) -> Resource:
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": str(link.pk),
        "active": link.revoked_at is None,
        "patient": ref("Patient", link.patient_id),
        # Free text as the caregiver's invite said it ("daughter"): mapping it onto
        # v3 RoleCode would guess.
        "relationship": [{"text": link.relationship or "caregiver"}],
        "period": {"start": instant(link.created_at)},
    }
    if link.revoked_at:
        resource["period"]["end"] = instant(link.revoked_at)
    return resource


def practitioner_resource(user: User) -> Resource:
    name = user.get_full_name() or user.username
    return {
        "resourceType": "Practitioner",
        "id": str(user.pk),
        "identifier": [{"system": f"{fhir_base()}/Practitioner", "value": str(user.pk)}],
        "active": user.is_active,
        "name": [{"text": name}],
    }


def people_resources(links: Iterable[CaregiverLink], clinicians: Iterable[User]) -> list[Resource]:
    return [
        *(related_person_resource(link) for link in links),
        *(practitioner_resource(u) for u in clinicians),
    ]
