"""The diary catalog: every code a record may carry, its label, scale, cluster and LOINC code.

One declarative module (STYLE rule 15): validators, summaries, alert rules and GET /catalog/
read from here, so adding a code is one line plus its Italian translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, Protocol, TypeVar

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# A label is translated when read (str()), in the language active at that moment.
Label = str | Promise


@dataclass(frozen=True)
class Item:
    code: str
    label: Label


@dataclass(frozen=True)
class Symptom:
    code: str
    label: Label
    loinc: str | None = None


@dataclass(frozen=True)
class Cluster:
    code: str
    label: Label
    members: tuple[str, ...]


@dataclass(frozen=True)
class RedFlag:
    code: str
    label: Label
    concern: Label


DrugKind = Literal["opioid", "adjuvant"]


@dataclass(frozen=True)
class Drug:
    """A systemic analgesic a patient may log.

    `mme_factors` maps a route to the oral morphine milligram equivalents of one milligram of
    the drug by that route; a route absent from it has no published linear factor.
    `no_mme_reason` (a key of MME_NULL_REASONS) marks a drug that is never converted.
    """

    code: str
    label: Label
    kind: DrugKind
    routes: tuple[str, ...]
    units: tuple[str, ...]
    mme_factors: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    no_mme_reason: str = ""


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


_C = TypeVar("_C", bound=_Coded)


def _index(*entries: _C) -> dict[str, _C]:
    return {entry.code: entry for entry in entries}


# --- Scales -------------------------------------------------------------------------------

# 0-10 numeric rating (BPI, ESAS-r) and the 0-4 PRO-CTCAE severity grade.
SCALES: dict[str, dict[str, int]] = {"nrs": {"min": 0, "max": 10}, "grade": {"min": 0, "max": 4}}

# PRO-CTCAE severity response options, scored 0-4 (NCI PRO-CTCAE item library).
# Context-marked because the adjectives agree in gender in Italian and "None" is generic.
GRADES: dict[int, Label] = {
    0: pgettext_lazy("severity grade", "None"),
    1: pgettext_lazy("severity grade", "Mild"),
    2: pgettext_lazy("severity grade", "Moderate"),
    3: pgettext_lazy("severity grade", "Severe"),
    4: pgettext_lazy("severity grade", "Very severe"),
}

# --- Symptoms -----------------------------------------------------------------------------

# LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported".
PAIN_NRS_LOINC = "72514-3"
# LOINC 77565-0 "Pain interference score [BPI Short Form]": the mean of the
# answered BPI 9 A-G items, valid with at least 4 of 7 answered.
BPI_INTERFERENCE_LOINC = "77565-0"

# The check-in's pain NRS (pain_now / pain_worst), standing for the day pain in clusters and
# summaries. Served among the symptoms, but it is not a key of the check-in `symptoms` object.
PAIN = Symptom("pain", _("Pain"), loinc=PAIN_NRS_LOINC)

# ESAS-r (Edmonton Symptom Assessment System, revised 2010) wording, all 0-10 with 10 the worst
# (wellbeing included: 0 is the best wellbeing); then the review's cluster symptoms.
SYMPTOMS: dict[str, Symptom] = _index(
    Symptom("tiredness", _("Tiredness (lack of energy)")),
    Symptom("drowsiness", _("Drowsiness (feeling sleepy)")),
    Symptom("nausea", _("Nausea")),
    Symptom("appetite_loss", _("Lack of appetite")),
    Symptom("shortness_of_breath", _("Shortness of breath")),
    Symptom("depression", _("Depression (feeling sad)")),
    Symptom("anxiety", _("Anxiety (feeling nervous)")),
    Symptom("wellbeing", _("Wellbeing (how you feel overall)")),
    Symptom("sleep_disturbance", _("Sleep problems")),
    Symptom("vomiting", _("Vomiting")),
    Symptom("constipation", _("Constipation")),
    Symptom("confusion", _("Confusion (difficulty thinking clearly)")),
)

CHECKIN_SYMPTOM_CODES: frozenset[str] = frozenset(SYMPTOMS)

# Symptom clusters named in the review (Corriero et al. 2025; Fan, Filipczak & Chow 2007).
CLUSTERS: dict[str, Cluster] = _index(
    Cluster("pain_fatigue_sleep", _("Pain, fatigue and sleep"), ("pain", "tiredness", "sleep_disturbance")),
    Cluster("gastrointestinal", _("Gastrointestinal"), ("nausea", "vomiting", "appetite_loss")),
    Cluster("psychological", _("Psychological"), ("anxiety", "depression")),
    Cluster("neurocognitive", _("Neurocognitive"), ("drowsiness", "confusion")),
)

# SPEC: a cluster is active on a day when at least two members score >= 4 (moderate on the NRS).
CLUSTER_ACTIVE_MIN_SCORE = 4
CLUSTER_ACTIVE_MIN_MEMBERS = 2

# --- Brief Pain Inventory and DN4 ---------------------------------------------------------

# BPI short form, item 9 A-G: interference in the past 24 h, 0-10.
INTERFERENCE_ITEMS: dict[str, Item] = _index(
    Item("general_activity", _("General activity")),
    Item("mood", _("Mood")),
    Item("walking", _("Walking ability")),
    Item("work", _("Normal work (including housework)")),
    Item("relations", _("Relations with other people")),
    Item("sleep", _("Sleep")),
    Item("enjoyment", _("Enjoyment of life")),
)

# DN4 interview items (DN4-i, Bouhassira et al. 2005), the 7 a patient can answer alone.
NEUROPATHIC_DESCRIPTORS: dict[str, Item] = _index(
    Item("burning", _("Burning")),
    Item("painful_cold", _("Painful cold")),
    Item("electric_shocks", _("Electric shocks")),
    Item("tingling", _("Tingling")),
    Item("pins_and_needles", _("Pins and needles")),
    Item("numbness", _("Numbness")),
    Item("itching", _("Itching")),
)

# Coarse body regions: enough to see where cancer pain sits, few enough to tap on a phone.
PAIN_SITES: dict[str, Item] = _index(
    Item("head", _("Head")),
    Item("neck", _("Neck")),
    Item("left_shoulder", _("Left shoulder")),
    Item("right_shoulder", _("Right shoulder")),
    Item("chest", _("Chest")),
    Item("abdomen", _("Abdomen")),
    Item("upper_back", _("Upper back")),
    Item("lower_back", _("Lower back")),
    Item("pelvis", _("Pelvis")),
    Item("perineum", _("Perineum (saddle area)")),
    Item("left_arm", _("Left arm")),
    Item("right_arm", _("Right arm")),
    Item("left_hip", _("Left hip")),
    Item("right_hip", _("Right hip")),
    Item("left_leg", _("Left leg")),
    Item("right_leg", _("Right leg")),
)

# --- Red flags ----------------------------------------------------------------------------

# Shown at once to a patient who reports a red flag: the asynchronous alert is not enough.
# A check-in with a red flag answers with it, and the catalog serves it for offline phones.
SAFETY_MESSAGE = _(
    "This app is not an emergency service. What you reported can be serious: if you feel "
    "unwell or it is getting worse, call your emergency number now, or your pain team's "
    "urgent line."
)

_CORD_COMPRESSION = _("Possible spinal cord compression")

# SPEC red_flag rule: each answers the phone with a safety message and raises an urgent alert.
RED_FLAGS: dict[str, RedFlag] = _index(
    RedFlag("new_limb_weakness", _("New weakness in an arm or leg"), _CORD_COMPRESSION),
    RedFlag("new_limb_numbness", _("New numbness in an arm or leg"), _CORD_COMPRESSION),
    RedFlag(
        "saddle_numbness",
        _("Numbness around the genitals, buttocks or inner thighs (saddle area)"),
        _CORD_COMPRESSION,
    ),
    RedFlag("new_incontinence", _("New loss of bladder or bowel control"), _CORD_COMPRESSION),
    RedFlag(
        "pump_site_infection",
        _("Fever with redness, swelling or leakage at the pump or catheter site"),
        _("Possible infection of the pump or catheter"),
    ),
    RedFlag(
        "sleepy_slow_breathing",
        _("Very sleepy with slow breathing"),
        _("Possible opioid toxicity"),
    ),
    RedFlag(
        "headache_after_intrathecal",
        _("Severe headache after a spinal (intrathecal) procedure"),
        _("Possible spinal fluid leak (post-dural-puncture headache)"),
    ),
)

# --- Adverse effects ----------------------------------------------------------------------

# Common analgesic adverse effects, graded 0-4 on the PRO-CTCAE severity scale (GRADES).
ADVERSE_EFFECTS: dict[str, Item] = _index(
    Item("sedation", _("Sedation (excessive sleepiness)")),
    Item("nausea", _("Nausea")),
    Item("vomiting", _("Vomiting")),
    Item("constipation", _("Constipation")),
    Item("cognitive_impairment", _("Problems with concentration or memory")),
    Item("dizziness", _("Dizziness")),
    Item("pruritus", _("Itchy skin")),
    Item("dry_mouth", _("Dry mouth")),
    Item("urinary_retention", _("Difficulty passing urine")),
    Item("myoclonus", _("Muscle jerks (myoclonus)")),
    Item("hallucinations", _("Hallucinations")),
    Item("slowed_breathing", _("Slowed breathing")),
)

# --- Drugs and morphine milligram equivalents ----------------------------------------------

ROUTES: dict[str, Item] = _index(
    Item("oral", _("By mouth")),
    Item("transdermal", _("Skin patch")),
    Item("subcutaneous", _("Under the skin (subcutaneous)")),
    Item("intravenous", _("Into a vein (intravenous)")),
    Item("sublingual", _("Under the tongue")),
    Item("intranasal", _("Nasal spray")),
    Item("intrathecal", _("Spinal pump or port (intrathecal)")),
)

UNITS: tuple[str, ...] = ("mg", "mcg", "mcg/h")

# A dose in mg or mcg converts to milligrams; a rate (mcg/h) has no amount without a duration.
_MG_PER_UNIT: dict[str, Decimal] = {"mg": Decimal(1), "mcg": Decimal("0.001")}

# Why a medication dose gets `mme: null` (SPEC: stored and flagged, never guessed).
MME_NULL_REASONS: dict[str, Label] = {
    "unknown_drug": _("Unknown drug: no morphine equivalent."),
    "not_an_opioid": _("Not an opioid: no morphine equivalent."),
    "methadone": _(
        "Methadone has no safe linear morphine equivalent: its half-life is long and variable "
        "and the ratio changes with the dose."
    ),
    "partial_agonist": _(
        "Buprenorphine is a partial agonist with a ceiling effect: no linear morphine equivalent."
    ),
    "intrathecal": _("Intrathecal doses have no safe linear oral morphine equivalent."),
    "per_hour": _(
        "Doses entered per hour (patches, infusions) are not converted: the amount depends on how "
        "long the drug was delivered."
    ),
    "no_factor_for_route": _(
        "The conversion table in use (CDC 2022) gives no morphine equivalent for this route."
    ),
}

_ORAL_MG = ("oral",)

# Oral MME per mg: CDC Clinical Practice Guideline for Prescribing Opioids for Pain - United
# States, 2022 (MMWR Recomm Rep 2022;71(RR-3)), Table "Morphine milligram equivalent doses for
# commonly prescribed opioids for pain management". Its factors are for oral doses (fentanyl
# transdermal 2.4 per mcg/h aside, which SPEC excludes), so every other route stays null;
# it gives methadone 4.7 with a caution against linear use and leaves buprenorphine out.
DRUGS: dict[str, Drug] = _index(
    Drug(
        "morphine",
        _("Morphine"),
        "opioid",
        routes=("oral", "subcutaneous", "intravenous", "intrathecal"),
        units=("mg", "mcg"),
        mme_factors={"oral": Decimal("1")},
    ),
    Drug(
        "oxycodone",
        _("Oxycodone"),
        "opioid",
        routes=("oral", "subcutaneous", "intravenous"),
        units=("mg",),
        mme_factors={"oral": Decimal("1.5")},
    ),
    Drug(
        "hydromorphone",
        _("Hydromorphone"),
        "opioid",
        routes=("oral", "subcutaneous", "intravenous", "intrathecal"),
        units=("mg", "mcg"),
        mme_factors={"oral": Decimal("5")},
    ),
    Drug(
        "oxymorphone",
        _("Oxymorphone"),
        "opioid",
        routes=_ORAL_MG,
        units=("mg",),
        mme_factors={"oral": Decimal("3")},
    ),
    Drug(
        "hydrocodone",
        _("Hydrocodone"),
        "opioid",
        routes=_ORAL_MG,
        units=("mg",),
        mme_factors={"oral": Decimal("1")},
    ),
    Drug(
        "codeine",
        _("Codeine"),
        "opioid",
        routes=_ORAL_MG,
        units=("mg",),
        mme_factors={"oral": Decimal("0.15")},
    ),
    Drug(
        "tramadol",
        _("Tramadol"),
        "opioid",
        routes=("oral", "intravenous"),
        units=("mg",),
        mme_factors={"oral": Decimal("0.2")},
    ),
    Drug(
        "tapentadol",
        _("Tapentadol"),
        "opioid",
        routes=_ORAL_MG,
        units=("mg",),
        mme_factors={"oral": Decimal("0.4")},
    ),
    Drug(
        "fentanyl",
        _("Fentanyl"),
        "opioid",
        routes=("transdermal", "sublingual", "intranasal", "subcutaneous", "intravenous"),
        units=("mcg", "mcg/h"),
    ),
    Drug(
        "buprenorphine",
        _("Buprenorphine"),
        "opioid",
        routes=("transdermal", "sublingual", "intravenous"),
        units=("mg", "mcg", "mcg/h"),
        no_mme_reason="partial_agonist",
    ),
    Drug("methadone", _("Methadone"), "opioid", routes=_ORAL_MG, units=("mg",), no_mme_reason="methadone"),
    # Neuropathic adjuvants (SPEC: no MME); they count for the refractory_neuropathic rule.
    Drug("gabapentin", _("Gabapentin"), "adjuvant", routes=_ORAL_MG, units=("mg",)),
    Drug("pregabalin", _("Pregabalin"), "adjuvant", routes=_ORAL_MG, units=("mg",)),
    Drug("amitriptyline", _("Amitriptyline"), "adjuvant", routes=_ORAL_MG, units=("mg",)),
    Drug("duloxetine", _("Duloxetine"), "adjuvant", routes=_ORAL_MG, units=("mg",)),
)

OPIOID_CODES: frozenset[str] = frozenset(code for code, drug in DRUGS.items() if drug.kind == "opioid")
ADJUVANT_CODES: frozenset[str] = frozenset(code for code, drug in DRUGS.items() if drug.kind == "adjuvant")

_MME_PLACES = Decimal("0.01")


def mme_reason_code(drug_code: str, route: str, unit: str) -> str:
    """Why a dose of this drug, route and unit has no MME; "" when it converts."""
    drug = DRUGS.get(drug_code)
    if drug is None:
        return "unknown_drug"
    if drug.kind != "opioid":
        return "not_an_opioid"
    if drug.no_mme_reason:
        return drug.no_mme_reason
    if route == "intrathecal":
        return "intrathecal"
    if unit not in _MG_PER_UNIT:
        return "per_hour"
    if route not in drug.mme_factors:
        return "no_factor_for_route"
    return ""


def mme_for(drug_code: str, route: str, unit: str, dose: Decimal) -> tuple[Decimal | None, str]:
    """Oral morphine milligram equivalents of one dose, or None with the reason in the active language.

    The MME is rounded to 0.01. Unknown drugs and adjuvants return None with a reason rather
    than raising, so a stored dose can always be summarised.
    """
    reason = mme_reason_code(drug_code, route, unit)
    if reason:
        return None, str(MME_NULL_REASONS[reason])
    drug = DRUGS[drug_code]
    milligrams = dose * _MG_PER_UNIT[unit]
    return (milligrams * drug.mme_factors[route]).quantize(_MME_PLACES, rounding=ROUND_HALF_UP), ""


# --- The served catalog -------------------------------------------------------------------


def _clusters_of(symptom_code: str) -> list[str]:
    return [cluster.code for cluster in CLUSTERS.values() if symptom_code in cluster.members]


def catalog_payload() -> dict[str, Any]:
    """The GET /catalog/ body (API.md "Catalog"), labels in the active language."""
    return {
        "symptoms": [
            {
                "code": symptom.code,
                "label": str(symptom.label),
                "scale": "nrs",
                "loinc": symptom.loinc,
                "clusters": _clusters_of(symptom.code),
            }
            for symptom in (PAIN, *SYMPTOMS.values())
        ],
        "clusters": [
            {"code": cluster.code, "label": str(cluster.label), "members": list(cluster.members)}
            for cluster in CLUSTERS.values()
        ],
        "adverse_effects": [
            {"code": effect.code, "label": str(effect.label), "scale": "grade"}
            for effect in ADVERSE_EFFECTS.values()
        ],
        "neuropathic_descriptors": [
            {"code": item.code, "label": str(item.label)} for item in NEUROPATHIC_DESCRIPTORS.values()
        ],
        "pain_sites": [{"code": site.code, "label": str(site.label)} for site in PAIN_SITES.values()],
        "red_flags": [
            {"code": flag.code, "label": str(flag.label), "concern": str(flag.concern)}
            for flag in RED_FLAGS.values()
        ],
        "safety_message": str(SAFETY_MESSAGE),
        # The number the app dials from the safety message (tel: link); 112 across the EU.
        "emergency_number": settings.EMERGENCY_NUMBER,
        "drugs": [
            {
                "code": drug.code,
                "label": str(drug.label),
                "kind": drug.kind,
                "routes": list(drug.routes),
                "units": list(drug.units),
            }
            for drug in DRUGS.values()
        ],
        "routes": [{"code": route.code, "label": str(route.label)} for route in ROUTES.values()],
        "interference_items": [
            {"code": item.code, "label": str(item.label), "scale": "nrs"}
            for item in INTERFERENCE_ITEMS.values()
        ],
        "scales": {
            "nrs": dict(SCALES["nrs"]),
            "grade": {
                **SCALES["grade"],
                "levels": [{"value": value, "label": str(label)} for value, label in GRADES.items()],
            },
        },
    }
