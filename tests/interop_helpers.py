"""A patient with every kind of record Crossroad maps to FHIR, made through the API as
the phone, the caregiver and the clinician would (alerts and referrals by their rows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, ReferralRecommendation
from care.models import Patient
from tests.conftest import client_for


@dataclass
class FullRecord:
    patient: Patient
    ids: dict[str, str] = field(default_factory=dict)
    alert: Alert | None = None
    referral: ReferralRecommendation | None = None


def _post(user, path: str, body: dict[str, Any]) -> str:
    response = client_for(user).post(f"/api/v1/{path}", body, format="json")
    assert response.status_code == 201, response.content
    return body["id"]


def make_full_record(patient: Patient, caregiver, clinician) -> FullRecord:
    """All four pain scores, 5 interference items, DN4, symptoms, an adverse effect with a
    suspected drug, a dose, a pump with delivered and denied boluses, a caregiver's
    report, a corrected and a retracted check-in, an open alert and a referral."""
    Patient.objects.filter(pk=patient.pk).update(
        idds=True, idds_lockout_minutes=30, idds_max_daily_boluses=6, idds_reservoir_ml=20
    )
    patient.refresh_from_db()
    now = timezone.now()
    at = lambda hours: (now - timedelta(hours=hours)).isoformat()  # noqa: E731
    record = FullRecord(patient)
    user = patient.user
    record.ids["full"] = _post(
        user,
        "diary/checkins/",
        {
            "id": str(uuid.uuid4()),
            "recorded_at": at(30),
            "patient": str(patient.pk),
            "pain_now": 6,
            "pain_worst": 8,
            "pain_least": 3,
            "pain_average": 5,
            "interference": {"general_activity": 6, "mood": 5, "walking": 7, "sleep": 4, "enjoyment": 6},
            "neuropathic": ["burning", "tingling"],
            "pain_sites": ["lower_back"],
            "symptoms": {"nausea": 4, "tiredness": 6},
            "wants_procedure_discussion": True,
            "note": "Bad night",
        },
    )
    record.ids["corrected"] = _post(
        user, "diary/checkins/", {"id": str(uuid.uuid4()), "recorded_at": at(20), "pain_now": 4}
    )
    response = client_for(user).patch(
        f"/api/v1/diary/checkins/{record.ids['corrected']}/", {"pain_now": 7}, format="json"
    )
    assert response.status_code == 200, response.content
    record.ids["retracted"] = _post(
        user, "diary/checkins/", {"id": str(uuid.uuid4()), "recorded_at": at(10), "pain_now": 9}
    )
    response = client_for(user).post(
        f"/api/v1/diary/checkins/{record.ids['retracted']}/retract/", {"reason": "typo"}, format="json"
    )
    assert response.status_code == 200, response.content
    record.ids["by_caregiver"] = _post(
        caregiver,
        "diary/checkins/",
        {"id": str(uuid.uuid4()), "patient": str(patient.pk), "recorded_at": at(5), "pain_now": 5},
    )
    record.ids["adverse_effect"] = _post(
        user,
        "diary/adverse-effects/",
        {
            "id": str(uuid.uuid4()),
            "recorded_at": at(9),
            "effect": "constipation",
            "grade": 3,
            "suspected_drug": "oxycodone",
            "limits_daily_activities": True,
        },
    )
    record.ids["dose"] = _post(
        user,
        "diary/medications/",
        {
            "id": str(uuid.uuid4()),
            "taken_at": at(8),
            "drug": "oxycodone",
            "dose": 10,
            "unit": "mg",
            "route": "oral",
        },
    )
    record.ids["delivered"] = _post(
        user,
        "diary/boluses/",
        {"id": str(uuid.uuid4()), "occurred_at": at(7), "outcome": "delivered", "dose": 0.5, "unit": "mcg"},
    )
    record.ids["denied"] = _post(
        user, "diary/boluses/", {"id": str(uuid.uuid4()), "occurred_at": at(6), "outcome": "denied_lockout"}
    )
    # Where a real worker evaluates the diary meanwhile, it may have opened these first.
    record.alert = _first_or_create(
        Alert.objects.filter(patient=patient, rule="persistent_pain").unresolved(),
        lambda: Alert.objects.create(
            patient=patient,
            rule="persistent_pain",
            severity="warning",
            box2_criteria=[1],
            evidence={"days": [{"date": now.date().isoformat(), "pain": 8}]},
            record_ids=[record.ids["full"], record.ids["corrected"]],
        ),
    )
    record.referral = _first_or_create(
        ReferralRecommendation.objects.filter(patient=patient, status__in=ReferralRecommendation.OPEN),
        lambda: ReferralRecommendation.objects.create(
            patient=patient,
            criteria=[{"number": 1, "rule": "persistent_pain", "evidence": {}}],
            priority="routine",
        ),
    )
    return record


def _first_or_create(existing, create):
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        return existing.get()
