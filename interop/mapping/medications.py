"""A systemic analgesic dose as a MedicationAdministration: drug, dose, route, the
reporter as performer, oral MME as an extension (null when unsafe, SPEC)."""

from __future__ import annotations

from diary import catalog
from diary.models import MedicationDose
from interop.mapping.common import (
    UCUM,
    People,
    Resource,
    crossroad_concept,
    fhir_base,
    instant,
    is_retracted,
    ref,
    reporter_reference,
)

# UCUM spells micrograms "ug".
UCUM_UNITS = {"mg": "mg", "mcg": "ug", "mcg/h": "ug/h", "ml": "mL"}


def mme_extension_url() -> str:
    return f"{fhir_base()}/StructureDefinition/oral-mme"


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
        "effectiveDateTime": instant(dose.taken_at),
        "performer": [{"actor": reporter_reference(dose, people)}],
        "dosage": {
            "route": crossroad_concept("route", dose.route, route.label) if route else {"text": dose.route},
            "dose": dose_quantity(dose.dose, dose.unit),
        },
    }
    if dose.mme is not None:
        resource["extension"] = [{"url": mme_extension_url(), "valueDecimal": float(dose.mme)}]
    elif dose.mme_note:
        resource["note"] = [{"text": dose.mme_note}]
    return resource
