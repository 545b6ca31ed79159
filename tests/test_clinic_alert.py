"""The alert page: the evidence in words, the records behind it, the escalation tier and
the next escalation time."""

from __future__ import annotations

import uuid

import pytest
from django.utils.formats import date_format

from alerts.models import Alert
from tests.alerts_helpers import local_moment, nurse_of, post_days
from tests.clinic_helpers import post_red_flag
from tests.clinic_signin import sign_in
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_oxycodone(api, team, django_capture_on_commit_callbacks):
    """Ugo: oxycodone two days ago, then day pain 6, 7, 7: Box 2 #1."""
    ugo = PatientFactory(care_team=team, display_name="Ugo")
    phone = api(ugo.user)
    with django_capture_on_commit_callbacks(execute=True):
        dose = {
            "id": str(uuid.uuid4()),
            "taken_at": local_moment(ugo, 2).isoformat(),
            "drug": "oxycodone",
            "dose": 10,
            "unit": "mg",
            "route": "oral",
        }
        assert phone.post("/api/v1/diary/medications/", dose, format="json").status_code == 201
        post_days(phone, ugo, {2: 6, 1: 7, 0: 7})
    return ugo


def test_the_evidence_reads_as_words_with_days_values_and_the_opioid(client, clinician, on_oxycodone):
    alert = Alert.objects.get(patient=on_oxycodone, rule="persistent_pain")
    sign_in(client, clinician)
    page = client.get(f"/clinic/alerts/{alert.pk}/").content.decode()
    evidence = page[page.index('id="evidence"') : page.index('id="escalation"')]
    two_days_ago = date_format(local_moment(on_oxycodone, 2).date(), "j M")
    assert f"On opioids: yes — oxycodone logged {two_days_ago}" in evidence
    assert f"6 on {two_days_ago}" in evidence
    assert "On opioids True" not in page
    assert evidence.count("Check-in</td>") == 3  # the records behind the three days


def test_a_red_flag_names_the_flag_and_the_concern(
    client, clinician, api, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_red_flag(api(patient.user))
    alert = Alert.objects.get(patient=patient, rule="red_flag")
    sign_in(client, clinician)
    page = client.get(f"/clinic/alerts/{alert.pk}/").content.decode()
    assert (
        "Red flag: Numbness around the genitals, buttocks or inner thighs (saddle area) — Possible spinal cord compression."
        in page
    )


def test_the_escalation_tier_and_next_time_until_acknowledged(
    client, clinician, team, api, patient, django_capture_on_commit_callbacks
):
    nurse_of(team)
    with django_capture_on_commit_callbacks(execute=True):
        post_red_flag(api(patient.user))
    alert = Alert.objects.get(patient=patient, rule="red_flag")
    sign_in(client, clinician)
    page = client.get(f"/clinic/alerts/{alert.pk}/").content.decode()
    escalation = page[page.index('id="escalation"') :]
    assert "Tier 1 of 3 notified (nurse)." in escalation
    due = alert.escalation_due_at.astimezone(alert.escalation_due_at.tzinfo)
    assert f"Escalates to pain physician at {date_format(due, 'j M H:i')} unless acknowledged." in escalation
    client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "called her"})
    page = client.get(f"/clinic/alerts/{alert.pk}/").content.decode()
    assert "Escalation stopped." in page
    assert "called her" in page
