"""The diary's check-in as a Questionnaire (served in each language) and every check-in
as a QuestionnaireResponse of it: `author` the reporter, `source` the patient."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from diary import catalog
from diary.models import CheckIn
from interop.mapping.common import (
    People,
    Resource,
    crossroad_coding,
    fhir_base,
    instant,
    is_retracted,
    observed,
    ref,
    reporter_reference,
)

CHECKIN_QUESTIONNAIRE_ID = "crossroad-checkin"
QUESTIONNAIRE_VERSION = "1"
PAIN_SCORES = ("pain_now", "pain_worst", "pain_least", "pain_average")


def questionnaire_url() -> str:
    return f"{fhir_base()}/Questionnaire/{CHECKIN_QUESTIONNAIRE_ID}"


def pain_score_labels() -> dict[str, str]:
    return {
        "pain_now": _("Pain right now"),
        "pain_worst": _("Worst pain in the last 24 hours"),
        "pain_least": _("Least pain in the last 24 hours"),
        "pain_average": _("Average pain"),
    }


def _integer(link_id: str, text: Any, low: int = 0, high: int = 10, *, required: bool = False) -> dict:
    return {
        "linkId": link_id,
        "text": str(text),
        "type": "integer",
        "required": required,
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": low},
            {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": high},
        ],
    }


def _choices(link_id: str, text: Any, family: str, items: dict) -> dict:
    return {
        "linkId": link_id,
        "text": str(text),
        "type": "choice",
        "repeats": True,
        "answerOption": [
            {"valueCoding": crossroad_coding(family, code, item.label)} for code, item in items.items()
        ],
    }


def questionnaire_resource(language: str) -> Resource:
    """The check-in as the app asks it, labels in `language`."""
    with translation.override(language):
        labels = pain_score_labels()
        items = [_integer(code, labels[code], required=(code == "pain_now")) for code in PAIN_SCORES]
        items += [
            {
                "linkId": "interference",
                "text": _("How much pain has interfered with your life in the last 24 hours"),
                "type": "group",
                "item": [_integer(code, item.label) for code, item in catalog.INTERFERENCE_ITEMS.items()],
            },
            _choices(
                "neuropathic", _("How your pain feels (DN4)"), "neuropathic", catalog.NEUROPATHIC_DESCRIPTORS
            ),
            _choices("pain_sites", _("Where it hurts"), "pain-site", catalog.PAIN_SITES),
            _integer("breakthrough_episodes", _("Breakthrough pain episodes"), 0, 100),
            {
                "linkId": "symptoms",
                "text": _("Other symptoms"),
                "type": "group",
                "item": [_integer(code, symptom.label) for code, symptom in catalog.SYMPTOMS.items()],
            },
            _choices("red_flags", _("Warning signs"), "red-flag", catalog.RED_FLAGS),
            {
                "linkId": "wants_fewer_medications",
                "text": _("I would like to take fewer medications"),
                "type": "boolean",
            },
            {
                "linkId": "wants_procedure_discussion",
                "text": _("I would like to discuss a procedure for my pain"),
                "type": "boolean",
            },
            {"linkId": "note", "text": _("Note"), "type": "text"},
        ]
        return {
            "resourceType": "Questionnaire",
            "id": CHECKIN_QUESTIONNAIRE_ID,
            "url": questionnaire_url(),
            "version": QUESTIONNAIRE_VERSION,
            "name": "CrossroadCheckIn",
            "title": _("Daily pain diary check-in"),
            "status": "active",
            "language": language,
            "subjectType": ["Patient"],
            "item": items,
        }


def _answer_integer(link_id: str, value: int | None) -> list[dict]:
    return [] if value is None else [{"linkId": link_id, "answer": [{"valueInteger": value}]}]


def _answer_codes(link_id: str, codes: list[str], family: str, items: dict) -> list[dict]:
    known = [code for code in codes if code in items]
    if not known:
        return []
    answers = [{"valueCoding": crossroad_coding(family, c, items[c].label)} for c in known]
    return [{"linkId": link_id, "answer": answers}]


def questionnaire_response_status(checkin: CheckIn) -> str:
    if is_retracted(checkin):
        return "entered-in-error"
    return "amended" if checkin.version > 1 else "completed"


def questionnaire_response_resource(checkin: CheckIn, people: People) -> Resource:
    items: list[dict] = []
    for code in PAIN_SCORES:
        items += _answer_integer(code, getattr(checkin, code))
    interference = [
        {"linkId": code, "answer": [{"valueInteger": checkin.interference[code]}]}
        for code in catalog.INTERFERENCE_ITEMS
        if code in checkin.interference
    ]
    if interference:
        items.append({"linkId": "interference", "item": interference})
    items += _answer_codes("neuropathic", checkin.neuropathic, "neuropathic", catalog.NEUROPATHIC_DESCRIPTORS)
    items += _answer_codes("pain_sites", checkin.pain_sites, "pain-site", catalog.PAIN_SITES)
    items += _answer_integer("breakthrough_episodes", checkin.breakthrough_episodes)
    symptoms = [
        {"linkId": code, "answer": [{"valueInteger": checkin.symptoms[code]}]}
        for code in catalog.SYMPTOMS
        if code in checkin.symptoms
    ]
    if symptoms:
        items.append({"linkId": "symptoms", "item": symptoms})
    items += _answer_codes("red_flags", checkin.red_flags, "red-flag", catalog.RED_FLAGS)
    for flag in ("wants_fewer_medications", "wants_procedure_discussion"):
        if getattr(checkin, flag):
            items.append({"linkId": flag, "answer": [{"valueBoolean": True}]})
    if checkin.note:
        items.append({"linkId": "note", "answer": [{"valueString": checkin.note}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(checkin.pk),
        "meta": {"versionId": str(checkin.version), "lastUpdated": instant(checkin.updated_at)},
        "questionnaire": f"{questionnaire_url()}|{QUESTIONNAIRE_VERSION}",
        "status": questionnaire_response_status(checkin),
        "subject": ref("Patient", checkin.patient_id),
        "authored": observed(checkin),
        "author": reporter_reference(checkin, people),
        "source": ref("Patient", checkin.patient_id),
        "item": items,
    }
