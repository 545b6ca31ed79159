"""A systemic analgesic dose as a MedicationAdministration: drug, dose, route, the
reporter as performer; its oral MME as a derived Observation (`partOf` the
administration), none when no safe conversion exists (SPEC)."""

from __future__ import annotations

from diary import catalog
from diary.models import MedicationDose
from interop.mapping.codesystems import CONCEPTS
from interop.mapping.common import (
    OBSERVATION_CATEGORY,
    UCUM,
    People,
    Resource,
    coding,
    crossroad_concept,
    derived_id,
    instant,
    is_retracted,
    observation_status,
    observed,
    ref,
    reporter_reference,
)

# UCUM spells micrograms "ug".
UCUM_UNITS = {"mg": "mg", "mcg": "ug", "mcg/h": "ug/h", "ml": "mL"}


def administration_status(record) -> str:
    """R4 MedicationAdministration has no `amended`: a corrected dose stays completed."""
    return "entered-in-error" if is_retracted(record) else "completed"


def dose_quantity(value, unit: str) -> dict:
    quantity = {"value": float(value), "unit": unit}
    if unit in UCUM_UNITS:
        quantity |= {"system": UCUM, "code": UCUM_UNITS[unit]}
    return quantity


def medication_administration_resource(dose: MedicationDose, people: People) -> Resource:
    drug = catalog.DRUGS.get(dose.drug)
    route = catalog.ROUTES.get(dose.route)
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": str(dose.pk),
        "meta": {"versionId": str(dose.version), "lastUpdated": instant(dose.updated_at)},
        "status": administration_status(dose),
        "category": {"text": str(dose.get_kind_display())},
        "medicationCodeableConcept": (
            crossroad_concept("drug", dose.drug, drug.label) if drug else {"text": dose.drug}
        ),
        "subject": ref("Patient", dose.patient_id),
        "effectiveDateTime": observed(dose),
        "performer": [{"actor": reporter_reference(dose, people)}],
        "dosage": {
            "route": crossroad_concept("route", dose.route, route.label) if route else {"text": dose.route},
            "dose": dose_quantity(dose.dose, dose.unit),
        },
    }
    if dose.mme is None and dose.mme_note:
        resource["note"] = [{"text": dose.mme_note}]
    return resource


def mme_observation(dose: MedicationDose, people: People) -> Resource | None:
    if dose.mme is None:
        return None
    return {
        "resourceType": "Observation",
        "id": derived_id(dose.pk, "oral_mme"),
        "meta": {"lastUpdated": instant(dose.updated_at)},
        "status": observation_status(dose),
        "category": [{"coding": [coding(OBSERVATION_CATEGORY, "therapy", "Therapy")]}],
        "code": crossroad_concept("concept", "oral_mme", CONCEPTS["oral_mme"]),
        "subject": ref("Patient", dose.patient_id),
        "effectiveDateTime": observed(dose),
        "performer": [reporter_reference(dose, people)],
        "partOf": [ref("MedicationAdministration", dose.pk)],
        "valueQuantity": {"value": float(dose.mme), "unit": "mg", "system": UCUM, "code": "mg"},
    }


def dose_resources(dose: MedicationDose, people: People) -> list[Resource]:
    mme = mme_observation(dose, people)
    administration = medication_administration_resource(dose, people)
    return [administration, mme] if mme else [administration]
