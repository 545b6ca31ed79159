"""The reads by id of the FHIR API (besides Patient, Practitioner, Questionnaire and
CodeSystem, served by views of their own)."""

from __future__ import annotations

from typing import Any

from alerts.models import Alert, ReferralRecommendation
from care.models import CaregiverLink, Patient
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus

# Reads by id: where the row is and which field names its patient, the $everything source
# that maps it (which also leaves out what is not exported), and whether that source's
# row is the patient itself (the patient's Device, a caregiver's RelatedPerson).
READS: dict[str, list[tuple[Any, str, str, bool]]] = {
    "QuestionnaireResponse": [(CheckIn, "patient_id", "checkins", False)],
    "AdverseEvent": [(AdverseEffect, "patient_id", "adverse_effects", False)],
    "MedicationAdministration": [
        (MedicationDose, "patient_id", "doses", False),
        (PtaBolus, "patient_id", "boluses", False),
    ],
    "Flag": [(Alert, "patient_id", "alerts", False)],
    "DetectedIssue": [(Alert, "patient_id", "alerts", False)],
    "ServiceRequest": [(ReferralRecommendation, "patient_id", "referrals", False)],
    "Task": [(ReferralRecommendation, "patient_id", "referrals", False)],
    "Provenance": [
        (CheckIn, "patient_id", "checkins", False),
        (AdverseEffect, "patient_id", "adverse_effects", False),
        (MedicationDose, "patient_id", "doses", False),
        (PtaBolus, "patient_id", "boluses", False),
    ],
    "RelatedPerson": [(CaregiverLink, "patient_id", "patient", True)],
    "Device": [(Patient, "pk", "patient", True)],
    "DeviceUseStatement": [(Patient, "pk", "patient", True)],
}
