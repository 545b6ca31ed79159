"""A check-in's scores as Observations (category survey): the four pain scores (LOINC
72514-3, a Crossroad code saying which score), the BPI interference mean (LOINC 77565-0,
only with >= 4 of 7 items), each ESAS-r symptom and the DN4 descriptors."""

from __future__ import annotations

from typing import Any

from diary import catalog
from diary.models import CheckIn
from interop.mapping.codesystems import CONCEPTS
from interop.mapping.common import (
    LOINC,
    OBSERVATION_CATEGORY,
    People,
    Resource,
    coding,
    crossroad_coding,
    crossroad_concept,
    derived_id,
    instant,
    observation_status,
    observed,
    ref,
    reporter_reference,
    score_quantity,
)
from interop.mapping.questionnaire import PAIN_SCORES, pain_score_labels

PAIN_NRS_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
BPI_INTERFERENCE_DISPLAY = "Pain interference score [BPI Short Form]"
DN4_CODE = "dn4_descriptors"
SURVEY = [{"coding": [coding(OBSERVATION_CATEGORY, "survey", "Survey")]}]


def _observation(checkin: CheckIn, people: People, suffix: str, code: dict, **value: Any) -> Resource:
    return {
        "resourceType": "Observation",
        "id": derived_id(checkin.pk, suffix),
        "meta": {"lastUpdated": instant(checkin.updated_at)},
        "status": observation_status(checkin),
        "category": SURVEY,
        "code": code,
        "subject": ref("Patient", checkin.patient_id),
        "effectiveDateTime": observed(checkin),
        "issued": instant(checkin.created_at),
        "performer": [reporter_reference(checkin, people)],
        "derivedFrom": [ref("QuestionnaireResponse", checkin.pk)],
        **value,
    }


def pain_code(score: str) -> dict:
    label = pain_score_labels()[score]
    return {
        "coding": [
            coding(LOINC, catalog.PAIN_NRS_LOINC, PAIN_NRS_DISPLAY),
            crossroad_coding("score", score, label),
        ],
        "text": label,
    }


def checkin_observations(checkin: CheckIn, people: People) -> list[Resource]:
    out = [
        _observation(checkin, people, score, pain_code(score), valueQuantity=score_quantity(value))
        for score in PAIN_SCORES
        if (value := getattr(checkin, score)) is not None
    ]
    if checkin.interference_mean is not None:
        code = {
            "coding": [coding(LOINC, catalog.BPI_INTERFERENCE_LOINC, BPI_INTERFERENCE_DISPLAY)],
            "text": BPI_INTERFERENCE_DISPLAY,
        }
        out.append(
            _observation(
                checkin,
                people,
                "interference_mean",
                code,
                valueQuantity=score_quantity(round(checkin.interference_mean, 2)),
            )
        )
    for symptom_code in catalog.SYMPTOMS:
        if symptom_code in checkin.symptoms:
            symptom = catalog.SYMPTOMS[symptom_code]
            code = crossroad_concept("symptom", symptom_code, symptom.label)
            if symptom.loinc:  # the catalog's LOINC code first, where one exists
                code["coding"].insert(0, coding(LOINC, symptom.loinc))
            value = score_quantity(checkin.symptoms[symptom_code])
            out.append(_observation(checkin, people, f"symptom:{symptom_code}", code, valueQuantity=value))
    if checkin.neuropathic:
        out.append(dn4_observation(checkin, people))
    return out


def dn4_observation(checkin: CheckIn, people: People) -> Resource:
    """The 7 DN4 interview descriptors as components (present or not) and their count as
    the value: the patient-answerable part of DN4 (Bouhassira 2005), not the full score."""
    present = set(checkin.neuropathic)
    components = []
    for code, item in catalog.NEUROPATHIC_DESCRIPTORS.items():
        components.append(
            {"code": crossroad_concept("neuropathic", code, item.label), "valueBoolean": code in present}
        )
    return _observation(
        checkin,
        people,
        DN4_CODE,
        crossroad_concept("concept", DN4_CODE, CONCEPTS[DN4_CODE]),
        valueInteger=len(present & set(catalog.NEUROPATHIC_DESCRIPTORS)),
        component=components,
    )
