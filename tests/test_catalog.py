"""The catalog: one declarative module, served without login, complete in English and Italian."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

from diary import catalog
from tests.diary_helpers import checkin_body

PO_FILE = Path(settings.BASE_DIR) / "locale" / "it" / "LC_MESSAGES" / "django.po"

SECTIONS = {
    "symptoms",
    "clusters",
    "adverse_effects",
    "neuropathic_descriptors",
    "pain_sites",
    "red_flags",
    "drugs",
    "interference_items",
    "scales",
}


def _by_code(items: list[dict]) -> dict[str, dict]:
    return {item["code"]: item for item in items}


def _catalog_labels():
    """Every (context, label) the catalog serves or stores, as (msgctxt, msgid) pairs."""
    plain = [
        catalog.PAIN.label,
        *(symptom.label for symptom in catalog.SYMPTOMS.values()),
        *(cluster.label for cluster in catalog.CLUSTERS.values()),
        *(item.label for item in catalog.INTERFERENCE_ITEMS.values()),
        *(item.label for item in catalog.NEUROPATHIC_DESCRIPTORS.values()),
        *(item.label for item in catalog.PAIN_SITES.values()),
        *(flag.label for flag in catalog.RED_FLAGS.values()),
        *(flag.concern for flag in catalog.RED_FLAGS.values()),
        *(item.label for item in catalog.ADVERSE_EFFECTS.values()),
        *(drug.label for drug in catalog.DRUGS.values()),
        *(route.label for route in catalog.ROUTES.values()),
        *catalog.MME_NULL_REASONS.values(),
    ]
    with translation.override("en"):
        # English is the source language (no .po), so str() of a lazy label is its msgid.
        return [(None, str(label)) for label in plain] + [
            ("severity grade", str(label)) for label in catalog.GRADES.values()
        ]


# --- The endpoint -------------------------------------------------------------------------


def test_anyone_reads_the_catalog_without_logging_in(client):
    response = client.get("/api/v1/catalog/")

    assert response.status_code == 200
    assert set(response.json()) >= SECTIONS


def test_the_catalog_may_be_cached_per_language(client):
    response = client.get("/api/v1/catalog/")

    assert "max-age=3600" in response["Cache-Control"]
    assert "Accept-Language" in response["Vary"]


def test_every_item_has_a_code_and_a_label(client):
    body = client.get("/api/v1/catalog/").json()

    for section in SECTIONS - {"scales"}:
        assert body[section], section
        for item in body[section]:
            assert isinstance(item["code"], str)
            assert item["code"]
            assert isinstance(item["label"], str)
            assert item["label"]


def test_symptoms_include_the_day_pain_with_its_loinc_code(client):
    symptoms = _by_code(client.get("/api/v1/catalog/").json()["symptoms"])

    assert symptoms["pain"]["loinc"] == "72514-3"
    assert symptoms["pain"]["clusters"] == ["pain_fatigue_sleep"]
    assert set(symptoms) == {"pain"} | catalog.CHECKIN_SYMPTOM_CODES
    assert {symptom["scale"] for symptom in symptoms.values()} == {"nrs"}


def test_clusters_have_the_members_the_spec_names(client):
    clusters = _by_code(client.get("/api/v1/catalog/").json()["clusters"])

    assert {code: set(cluster["members"]) for code, cluster in clusters.items()} == {
        "pain_fatigue_sleep": {"pain", "tiredness", "sleep_disturbance"},
        "gastrointestinal": {"nausea", "vomiting", "appetite_loss"},
        "psychological": {"anxiety", "depression"},
        "neurocognitive": {"drowsiness", "confusion"},
    }


def test_scales_and_item_shapes_follow_the_api_contract(client):
    body = client.get("/api/v1/catalog/").json()

    assert body["scales"]["nrs"] == {"min": 0, "max": 10}
    assert {key: body["scales"]["grade"][key] for key in ("min", "max")} == {"min": 0, "max": 4}
    assert [level["value"] for level in body["scales"]["grade"]["levels"]] == [0, 1, 2, 3, 4]
    assert {item["scale"] for item in body["interference_items"]} == {"nrs"}
    assert {item["scale"] for item in body["adverse_effects"]} == {"grade"}
    assert set(_by_code(body["interference_items"])) == {
        "general_activity",
        "mood",
        "walking",
        "work",
        "relations",
        "sleep",
        "enjoyment",
    }
    assert len(body["neuropathic_descriptors"]) == 7
    assert all(flag["concern"] for flag in body["red_flags"])
    morphine = _by_code(body["drugs"])["morphine"]
    assert morphine["kind"] == "opioid"
    assert "oral" in morphine["routes"]
    assert "mg" in morphine["units"]


def test_an_italian_phone_gets_italian_labels(client):
    body = client.get("/api/v1/catalog/", headers={"accept-language": "it"}).json()

    assert _by_code(body["symptoms"])["pain"]["label"] == "Dolore"
    assert _by_code(body["drugs"])["morphine"]["label"] == "Morfina"
    assert body["scales"]["grade"]["levels"][3]["label"] == "Grave"


def test_an_english_phone_gets_english_labels(client):
    body = client.get("/api/v1/catalog/", headers={"accept-language": "en"}).json()

    assert _by_code(body["symptoms"])["pain"]["label"] == "Pain"


# --- The data -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "it"])
def test_the_catalogs_safety_message_is_the_red_flag_answers_own(client, api, patient, language):
    # An offline phone shows the catalog's text; online it shows the answer's: the same words.
    served = client.get("/api/v1/catalog/", HTTP_ACCEPT_LANGUAGE=language).json()
    answer = api(patient.user).post(
        "/api/v1/diary/checkins/",
        checkin_body(red_flags=["new_limb_weakness"]),
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )

    assert answer.status_code == 201
    assert served["safety_message"] == answer.json()["safety_message"]
    assert served["emergency_number"] == "112"
    with translation.override(language):
        expected = str(catalog.RED_FLAGS["new_limb_weakness"].concern)
    assert _by_code(served["red_flags"])["new_limb_weakness"]["concern"] == expected
    assert (language == "en") == (expected == "Possible spinal cord compression")


def test_pain_is_served_but_not_a_checkin_symptom_code():
    assert catalog.PAIN.loinc == catalog.PAIN_NRS_LOINC == "72514-3"
    assert "pain" not in catalog.CHECKIN_SYMPTOM_CODES
    assert len(catalog.CHECKIN_SYMPTOM_CODES) == 12


def test_cluster_members_are_all_zero_to_ten_checkin_values():
    for cluster in catalog.CLUSTERS.values():
        assert set(cluster.members) <= catalog.CHECKIN_SYMPTOM_CODES | {"pain"}, cluster.code


def test_drug_routes_and_units_come_from_the_known_sets():
    for drug in catalog.DRUGS.values():
        assert set(drug.routes) <= set(catalog.ROUTES), drug.code
        assert set(drug.units) <= set(catalog.UNITS), drug.code
        assert set(drug.mme_factors) <= set(drug.routes), drug.code
    assert catalog.OPIOID_CODES.isdisjoint(catalog.ADJUVANT_CODES)
    assert set(catalog.ADJUVANT_CODES) == {"gabapentin", "pregabalin", "amitriptyline", "duloxetine"}


def test_every_catalog_label_has_an_italian_translation():
    po = polib.pofile(str(PO_FILE))
    translated = {(entry.msgctxt, entry.msgid) for entry in po.translated_entries()}

    missing = [label for label in _catalog_labels() if label not in translated]

    assert not missing, f"add these to {PO_FILE} (makemessages -l it) and translate them: {missing}"


def test_the_italian_file_has_no_empty_or_fuzzy_entry():
    po = polib.pofile(str(PO_FILE))

    assert not po.untranslated_entries()
    assert not po.fuzzy_entries()


# --- Morphine milligram equivalents (CDC 2022 table) --------------------------------------


@pytest.mark.parametrize(
    ("drug", "route", "unit", "dose", "mme"),
    [
        ("morphine", "oral", "mg", "30", "30"),
        ("oxycodone", "oral", "mg", "20", "30"),
        ("hydromorphone", "oral", "mg", "4", "20"),
        ("codeine", "oral", "mg", "30", "4.5"),
        ("tramadol", "oral", "mg", "100", "20"),
        ("tapentadol", "oral", "mg", "50", "20"),
        ("morphine", "oral", "mcg", "500", "0.5"),
    ],
)
def test_oral_doses_convert_with_the_cdc_factor(drug, route, unit, dose, mme):
    assert catalog.mme_for(drug, route, unit, Decimal(dose)) == (Decimal(mme), "")


@pytest.mark.parametrize(
    ("drug", "route", "unit", "reason_code"),
    [
        ("methadone", "oral", "mg", "methadone"),
        ("fentanyl", "transdermal", "mcg/h", "per_hour"),
        ("buprenorphine", "transdermal", "mcg/h", "partial_agonist"),
        ("morphine", "intrathecal", "mg", "intrathecal"),
        ("morphine", "intrathecal", "mcg", "intrathecal"),
        ("morphine", "subcutaneous", "mg", "no_factor_for_route"),
        ("fentanyl", "sublingual", "mcg", "no_factor_for_route"),
        ("gabapentin", "oral", "mg", "not_an_opioid"),
        ("not_a_drug", "oral", "mg", "unknown_drug"),
    ],
)
def test_doses_without_a_safe_linear_factor_get_no_mme_and_a_reason(drug, route, unit, reason_code):
    assert catalog.mme_reason_code(drug, route, unit) == reason_code
    with translation.override("en"):
        mme, reason = catalog.mme_for(drug, route, unit, Decimal(10))

    assert mme is None
    assert reason == str(catalog.MME_NULL_REASONS[reason_code])


def test_the_mme_reason_is_in_the_active_language():
    with translation.override("it"):
        _, reason = catalog.mme_for("gabapentin", "oral", "mg", Decimal(300))

    assert reason == "Non è un oppioide: nessun equivalente di morfina."
