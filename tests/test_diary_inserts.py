"""The diary's insert-or-ignore (diary.inserts): what it stores is what the ORM would store,
what it answers is the ids it inserted."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from diary import inserts
from diary.models import RECORD_MODELS
from diary.serializers import SERIALIZERS
from diary.services import build_record
from tests.conftest import needs_service
from tests.diary_helpers import adverse_effect_body, bolus_body, checkin_body, medication_body

pytestmark = pytest.mark.django_db

# Bodies that fill every client field a type has, and leave the nullable ones empty too.
FULL = {
    "checkin": lambda: checkin_body(
        pain_worst=8,
        pain_least=2,
        pain_average=5,
        interference={"general_activity": 6, "mood": 4, "walking": 7, "sleep": 5},
        symptoms={"nausea": 3, "drowsiness": 7},
        pain_sites=["neck"],
        neuropathic=["burning"],
        breakthrough_episodes=2,
        red_flags=["new_limb_weakness"],
        wants_fewer_medications=True,
        note="worse after the walk",
    ),
    "adverse_effect": lambda: adverse_effect_body(
        suspected_drug="oxycodone", limits_daily_activities=True, note="since Monday"
    ),
    "bolus": lambda: bolus_body(dose="0.0500", unit="mg", pain_before=7, pain_after=3),
    "medication": lambda: medication_body(dose="12.5"),
}
BARE = {
    "checkin": checkin_body,
    "adverse_effect": adverse_effect_body,
    "bolus": bolus_body,
    "medication": lambda: medication_body(drug="gabapentin", dose=300),  # no MME: mme is null
}


def built(kind, patient, body):
    data = SERIALIZERS[kind](context={"patient": patient}).run_validation(body)
    return build_record(
        kind=kind,
        patient=patient,
        reporter=patient.user,
        data=data,
        now=timezone.now(),
        ingest_key=uuid.uuid4(),
    )


def stored_values(model, pk) -> dict:
    return model_to_dict(model.objects.get(pk=pk), fields=[f.name for f in model._meta.concrete_fields])


@pytest.mark.parametrize("bodies", [FULL, BARE], ids=["every-field", "nullable-fields-empty"])
@pytest.mark.parametrize("kind", list(RECORD_MODELS))
def test_inserted_records_read_back_as_the_orm_saves_them(patient, kind, bodies):
    model = RECORD_MODELS[kind]
    records = [built(kind, patient, bodies[kind]()) for _ in range(3)]
    twin = built(kind, patient, bodies[kind]())

    assert inserts.insert_or_ignore(model, records) == {r.pk for r in records}

    # The same values saved by the ORM (another id) read back the same, field by field.
    twin_values = {
        name: getattr(records[0], name) for name in (f.attname for f in model._meta.concrete_fields)
    }
    twin.__dict__.update({k: v for k, v in twin_values.items() if k != "id"})
    twin.save(force_insert=True)
    expected = stored_values(model, twin.pk) | {"id": records[0].pk}
    assert stored_values(model, records[0].pk) == expected


@pytest.mark.parametrize("kind", list(RECORD_MODELS))
def test_ids_already_stored_are_skipped_and_not_answered(patient, kind):
    model = RECORD_MODELS[kind]
    first = [built(kind, patient, BARE[kind]()) for _ in range(2)]
    inserts.insert_or_ignore(model, first)
    again = [built(kind, patient, BARE[kind]()) for _ in range(2)]
    changed = built(kind, patient, FULL[kind]())
    changed.pk = first[0].pk

    inserted = inserts.insert_or_ignore(model, [changed, *again, first[1]])

    assert inserted == {r.pk for r in again}
    assert model.objects.filter(patient=patient).count() == 4
    # The stored row is the first one, not the resend with other values.
    assert model.objects.get(pk=first[0].pk).fingerprint == first[0].fingerprint


@needs_service("PostgreSQL", connection.vendor == "postgresql")
@pytest.mark.parametrize("bodies", [FULL, BARE], ids=["every-field", "nullable-fields-empty"])
@pytest.mark.parametrize("kind", list(RECORD_MODELS))
def test_values_passed_as_they_are_are_what_django_would_bind(patient, kind, bodies):
    """The PostgreSQL path skips get_db_prep_save() for the field types in PASSED_AS_IS: for
    every such field of every record type, Django's preparation returns the value unchanged
    (or, for an integer, the same int in psycopg's Int2/Int4/Int8, a type hint the column's
    own type makes moot in an INSERT)."""
    if connection.vendor != "postgresql":
        pytest.fail("the PostgreSQL insert runs in CI")
    record = built(kind, patient, bodies[kind]())
    statement = inserts._statement(RECORD_MODELS[kind])
    fields = {f.attname: f for f in RECORD_MODELS[kind]._meta.concrete_fields}
    prepared = {statement.attnames[index] for index, _ in statement.prepared}
    passed = [attname for attname in statement.attnames if attname not in prepared]

    assert {"fingerprint", "patient_id"} <= set(passed)
    for attname in passed:
        value = getattr(record, attname)
        prepared = fields[attname].get_db_prep_save(value, connection)
        assert prepared == value, attname
        assert isinstance(prepared, type(value)), attname


def test_a_decimal_dose_keeps_its_digits(patient):
    record = built("bolus", patient, bolus_body(dose="0.0125", unit="mg"))

    inserts.insert_or_ignore(RECORD_MODELS["bolus"], [record])

    assert RECORD_MODELS["bolus"].objects.get(pk=record.pk).dose == Decimal("0.0125")
