"""The operations commands: create_clinician and seed_demo, both idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from alerts.models import Alert, ReferralRecommendation
from care.models import CareTeam, Patient, TeamMembership, User
from diary.models import CheckIn

pytestmark = pytest.mark.django_db


def test_create_clinician_creates_the_team_and_updates_on_a_second_run():
    call_command(
        "create_clinician", username="dr-ada", password="s3cret-pass!", team="Pain A", team_role="nurse"
    )
    call_command(
        "create_clinician",
        username="dr-ada",
        password="new-s3cret!",
        team="Pain A",
        team_role="pain_physician",
    )

    user = User.objects.get(username="dr-ada")
    assert user.role == "clinician"
    assert user.check_password("new-s3cret!")
    assert CareTeam.objects.filter(name="Pain A").count() == 1
    assert list(TeamMembership.objects.filter(user=user).values_list("team_role", flat=True)) == [
        "pain_physician"
    ]


def test_create_clinician_refuses_an_unknown_team_role():
    with pytest.raises(CommandError, match="surgeon"):
        call_command("create_clinician", username="x", password="y", team="T", team_role="surgeon")


def test_seed_demo_twice_loads_the_same_demo_once_and_the_clinician_sees_rosa_first():
    call_command("seed_demo")
    counts = (Patient.objects.count(), CheckIn.objects.count(), Alert.objects.count())
    call_command("seed_demo")
    assert (Patient.objects.count(), CheckIn.objects.count(), Alert.objects.count()) == counts

    rosa = Patient.objects.get(user__username="rosa")
    assert {"persistent_pain", "rapid_deterioration"} <= set(
        Alert.objects.filter(patient=rosa).values_list("rule", flat=True)
    )
    assert ReferralRecommendation.objects.get(patient=rosa).priority == "urgent"
    assert not Alert.objects.filter(patient__user__username="alan").exists()

    client = APIClient()
    tokens = client.post(
        "/api/v1/auth/token/", {"username": "dr-demo", "password": "crossroad-demo"}, format="json"
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    rows = client.get("/api/v1/patients/").json()["results"]
    assert rows[0]["display_name"].startswith("Rosa")
    names = [row["display_name"] for row in rows]
    assert names.index("Alan (controlled pain)") > 0  # no alert: after every patient who has one


def test_seed_demo_prints_a_pending_invite_that_enrolls_a_phone():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    code = out.getvalue().rsplit("invite code ", 1)[1].split(")")[0]

    assert f"/app/#enroll={code}" in out.getvalue()
    answer = APIClient().post(
        "/api/v1/auth/enroll/",
        {"code": code, "username": "nadia", "password": "a-long-unusual-passphrase-42"},
        format="json",
    )
    assert answer.status_code == 201
    assert answer.json()["role"] == "patient"
