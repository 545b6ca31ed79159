"""The Crossroad CodeSystems, one per catalog family, served under /fhir/CodeSystem/: the
codes a resource carries where LOINC has none. Built from diary/catalog.py (and the alert
rules), so a code added there is served here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from alerts.rules import RULES
from diary import catalog
from interop.mapping.common import CODE_SYSTEM_PREFIX, Resource, code_system_url
from interop.mapping.questionnaire import pain_score_labels

# Concepts that are no catalog entry but name what a resource is.
CONCEPTS: dict[str, Any] = {
    "dn4_descriptors": _("DN4 interview descriptors"),
    "pta_bolus": _("Intrathecal patient-activated bolus"),
    "pta_denied_activations": _("Denied pump activations in the day"),
    "idds": _("Intrathecal drug delivery system (implanted pump or port)"),
    "pain_referral": _("Referral to a pain specialist"),
    "oral_mme": _("Oral morphine milligram equivalents of the dose"),
}


def _box2_criteria() -> Iterable[tuple[str, str]]:
    return ((str(n), _("Box 2 criterion %(number)s") % {"number": n}) for n in range(1, 10))


def _items(entries: dict) -> Iterable[tuple[str, Any]]:
    return ((code, entry.label) for code, entry in entries.items())


FAMILIES: dict[str, tuple[Any, Callable[[], Iterable[tuple[str, Any]]]]] = {
    "score": (_("Crossroad pain scores"), lambda: pain_score_labels().items()),
    "symptom": (_("Crossroad symptoms (ESAS-r and cluster symptoms)"), lambda: _items(catalog.SYMPTOMS)),
    "interference": (_("BPI interference items"), lambda: _items(catalog.INTERFERENCE_ITEMS)),
    "neuropathic": (_("DN4 interview descriptors"), lambda: _items(catalog.NEUROPATHIC_DESCRIPTORS)),
    "pain-site": (_("Crossroad pain sites"), lambda: _items(catalog.PAIN_SITES)),
    "red-flag": (_("Crossroad red flags"), lambda: _items(catalog.RED_FLAGS)),
    "adverse-effect": (_("Crossroad analgesic adverse effects"), lambda: _items(catalog.ADVERSE_EFFECTS)),
    "grade": (
        _("PRO-CTCAE severity grades"),
        lambda: ((str(value), label) for value, label in catalog.GRADES.items()),
    ),
    "drug": (_("Crossroad analgesics"), lambda: _items(catalog.DRUGS)),
    "route": (_("Crossroad routes of administration"), lambda: _items(catalog.ROUTES)),
    "alert-rule": (
        _("Crossroad alert rules"),
        lambda: ((code, RULES[code].label) for code in RULES),
    ),
    "box2": (_("Referral criteria (Box 2)"), _box2_criteria),
    "concept": (_("Crossroad concepts"), lambda: CONCEPTS.items()),
}


def code_system_resource(family: str, language: str) -> Resource:
    title, concepts = FAMILIES[family]
    with translation.override(language):
        concept = [{"code": code, "display": str(label)} for code, label in concepts()]
        return {
            "resourceType": "CodeSystem",
            "id": f"{CODE_SYSTEM_PREFIX}{family}",
            "url": code_system_url(family),
            "version": "1",
            "name": "Crossroad" + "".join(part.title() for part in family.split("-")),
            "title": str(title),
            "status": "active",
            "language": language,
            "caseSensitive": True,
            "content": "complete",
            "count": len(concept),
            "concept": concept,
        }


def family_of(code_system_id: str) -> str | None:
    family = code_system_id.removeprefix(CODE_SYSTEM_PREFIX)
    return family if code_system_id.startswith(CODE_SYSTEM_PREFIX) and family in FAMILIES else None
