"""The intrathecal pump: a Device and its DeviceUseStatement; delivered PTA boluses as
MedicationAdministrations through the device, denied activations as one Observation per
local day (the count, which the pta_overuse rule reads)."""

from __future__ import annotations

from datetime import date, datetime

from care.models import Patient
from diary.models import PtaBolus
from interop.mapping.codesystems import CONCEPTS
from interop.mapping.common import (
    OBSERVATION_CATEGORY,
    People,
    Resource,
    coding,
    crossroad_concept,
    derived_id,
    instant,
    observed,
    ref,
    reporter_reference,
)
from interop.mapping.medications import administration_status, dose_quantity


def device_id(patient_id) -> str:
    return str(patient_id)


def device_resources(patient: Patient) -> list[Resource]:
    if not patient.idds:
        return []
    device: Resource = {
        "resourceType": "Device",
        "id": device_id(patient.pk),
        "status": "active",
        "type": crossroad_concept("concept", "idds", CONCEPTS["idds"]),
        "patient": ref("Patient", patient.pk),
    }
    properties = []
    if patient.idds_lockout_minutes is not None:
        properties.append(
            {
                "type": {"text": "lockout interval"},
                "valueQuantity": [
                    {
                        "value": patient.idds_lockout_minutes,
                        "unit": "min",
                        "system": "http://unitsofmeasure.org",
                        "code": "min",
                    }
                ],
            }
        )
    if patient.idds_max_daily_boluses is not None:
        properties.append(
            {
                "type": {"text": "maximum boluses per day"},
                "valueQuantity": [{"value": patient.idds_max_daily_boluses, "unit": "boluses"}],
            }
        )
    if patient.idds_reservoir_ml is not None:
        properties.append(
            {
                "type": {"text": "reservoir volume"},
                "valueQuantity": [
                    {
                        "value": float(patient.idds_reservoir_ml),
                        "unit": "mL",
                        "system": "http://unitsofmeasure.org",
                        "code": "mL",
                    }
                ],
            }
        )
    if properties:
        device["property"] = properties
    statement = {
        "resourceType": "DeviceUseStatement",
        "id": str(patient.pk),
        "status": "active",
        "subject": ref("Patient", patient.pk),
        "device": ref("Device", device["id"]),
        "recordedOn": instant(patient.updated_at),
    }
    return [device, statement]


def bolus_administration_resource(bolus: PtaBolus, people: People, *, idds: bool) -> Resource:
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": str(bolus.pk),
        "meta": {"versionId": str(bolus.version), "lastUpdated": instant(bolus.updated_at)},
        "status": administration_status(bolus),
        "medicationCodeableConcept": crossroad_concept("concept", "pta_bolus", CONCEPTS["pta_bolus"]),
        "subject": ref("Patient", bolus.patient_id),
        "effectiveDateTime": observed(bolus),
        "performer": [{"actor": reporter_reference(bolus, people)}],
    }
    if idds:
        resource["device"] = [ref("Device", device_id(bolus.patient_id))]
    if bolus.dose is not None:
        resource["dosage"] = {"dose": dose_quantity(bolus.dose, bolus.unit)}
    return resource


def denied_day_id(patient_id, day: date) -> str:
    return derived_id(patient_id, f"pta-denied:{day.isoformat()}")


def denied_activations_resource(
    patient_id, day: date, count: int, updated: datetime, *, idds: bool
) -> Resource:
    resource: Resource = {
        "resourceType": "Observation",
        "id": denied_day_id(patient_id, day),
        "meta": {"lastUpdated": instant(updated)},
        "status": "final",
        "category": [{"coding": [coding(OBSERVATION_CATEGORY, "therapy", "Therapy")]}],
        "code": crossroad_concept("concept", "pta_denied_activations", CONCEPTS["pta_denied_activations"]),
        "subject": ref("Patient", patient_id),
        "effectiveDateTime": day.isoformat(),
        "valueInteger": count,
    }
    if idds:
        resource["device"] = ref("Device", device_id(patient_id))
    return resource
