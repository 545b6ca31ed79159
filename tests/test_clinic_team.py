"""Team settings and the access log: team admins only; thresholds with the API's
messages, escalation tiers, the webhook and its secret, the digest hour."""

from __future__ import annotations

import pytest

from alerts.models import AlertRuleConfig, EscalationPolicy
from care.models import AccessEvent
from tests.alerts_helpers import nurse_of
from tests.clinic_signin import sign_in
from tests.factories import ClinicianFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_a_nurse_gets_403_on_team_settings_and_the_access_log(client, team):
    nurse = nurse_of(team)
    sign_in(client, nurse)
    assert client.get("/clinic/team/").status_code == 403
    assert client.get("/clinic/access-log/").status_code == 403
    assert client.post("/clinic/team/webhook/rotate/").status_code == 403
    assert "Team settings" not in client.get("/clinic/").content.decode()


def test_an_admin_of_another_team_gets_404_for_this_team(client, team, other_team):

    stranger = ClinicianFactory(username="admin-b", team=other_team, team__team_role="team_admin")
    sign_in(client, stranger)
    assert client.get(f"/clinic/team/?team={team.pk}").status_code == 404


def test_a_team_threshold_is_saved_through_the_write_path(client, team_admin, team):
    sign_in(client, team_admin)
    assert "Persistent moderate-severe pain" in client.get("/clinic/team/").content.decode()
    body = {
        "team": team.pk,
        "rule": "persistent_pain",
        "persistent_pain-enabled": "on",
        "persistent_pain-params_min_pain": "6",
        "persistent_pain-params_days": "4",
    }
    assert client.post("/clinic/team/rules/", body).status_code == 302
    config = AlertRuleConfig.objects.get(care_team=team, patient=None, rule="persistent_pain")
    assert config.params == {"min_pain": 6, "days": 4}
    body["persistent_pain-params_days"] = "5"
    client.post("/clinic/team/rules/", body)
    config.refresh_from_db()
    assert config.params["days"] == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11", "Must be between 1 and 10."),
        ("lots", "A number is required."),
        ("5.5", "A whole number is required."),
    ],
)
def test_an_invalid_threshold_shows_the_apis_message(client, team_admin, team, value, message):
    sign_in(client, team_admin)
    body = {
        "team": team.pk,
        "rule": "persistent_pain",
        "persistent_pain-enabled": "on",
        "persistent_pain-params_min_pain": value,
    }
    response = client.post("/clinic/team/rules/", body)
    page = response.content.decode()
    assert message in page
    assert 'href="#id_persistent_pain-params_min_pain"' in page
    assert not AlertRuleConfig.objects.exists()


def test_the_threshold_error_is_in_italian_for_an_italian_admin(client, team_admin, team):
    team_admin.language = "it"
    team_admin.save()
    sign_in(client, team_admin)
    body = {"team": team.pk, "rule": "persistent_pain", "persistent_pain-params_min_pain": "11"}
    page = client.post("/clinic/team/rules/", body).content.decode()
    assert "Deve essere compreso tra 1 e 10." in page


def test_a_patient_override(client, team_admin, team, patient):
    sign_in(client, team_admin)
    page = client.get(f"/clinic/team/?team={team.pk}&patient={patient.pk}").content.decode()
    assert "Alert thresholds for Rosa" in page
    body = {"team": team.pk, "patient": patient.pk, "rule": "red_flag"}  # unticked: off for Rosa
    client.post("/clinic/team/rules/", body)
    override = AlertRuleConfig.objects.get(patient=patient, rule="red_flag")
    assert override.enabled is False


def test_escalation_tiers_and_their_validation(client, team_admin, team):
    sign_in(client, team_admin)
    body = {
        "team": team.pk,
        "tier0_roles": ["nurse"],
        "tier0_urgent": "10",
        "tier0_warning": "120",
        "tier1_roles": ["pain_physician", "team_admin"],
        "tier1_urgent": "20",
        "tier1_warning": "240",
    }
    assert client.post("/clinic/team/escalation/", body).status_code == 302
    tiers = EscalationPolicy.objects.get(team=team).tiers
    assert [t["recipients"]["team_roles"] for t in tiers] == [["nurse"], ["pain_physician", "team_admin"]]
    assert tiers[0]["timeout_minutes"] == {"urgent": 10, "warning": 120}
    page = client.post("/clinic/team/escalation/", {**body, "tier1_urgent": "0"}).content.decode()
    assert "Ensure this value is greater than or equal to 1." in page
    assert 'href="#id_tier1_urgent"' in page  # on the field of that tier
    page = client.post("/clinic/team/escalation/", {**body, "tier0_roles": []}).content.decode()
    assert "Name at least one team role or clinician." in page
    assert 'href="#id_tier0_roles"' in page


def test_the_webhook_gets_a_secret_shown_once_and_rotates(client, team_admin, team, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    sign_in(client, team_admin)
    page = client.post(
        "/clinic/team/webhook/", {"team": team.pk, "webhook_url": "http://pager.example/x"}
    ).content.decode()
    assert "A paging webhook must use https." in page
    page = client.post(
        "/clinic/team/webhook/", {"team": team.pk, "webhook_url": "https://pager.example/x"}
    ).content.decode()
    policy = EscalationPolicy.objects.get(team=team)
    assert policy.webhook_url == "https://pager.example/x"
    assert f'id="webhook-secret">{policy.webhook_secret}<' in page
    first = policy.webhook_secret
    page = client.post("/clinic/team/webhook/rotate/", {"team": team.pk}).content.decode()
    policy.refresh_from_db()
    assert policy.webhook_secret != first
    assert policy.webhook_secret in page
    assert first not in client.get("/clinic/team/").content.decode()


def test_the_digest_hour(client, team_admin, team):
    sign_in(client, team_admin)
    client.post(
        "/clinic/team/digest/", {"team": team.pk, "digest_hour": "7", "digest_timezone": "Europe/Rome"}
    )
    policy = EscalationPolicy.objects.get(team=team)
    assert (policy.digest_hour, policy.digest_timezone) == (7, "Europe/Rome")


def test_the_access_log_shows_reads_of_the_teams_patients_filtered(
    client, team_admin, clinician, team, patient, other_patient, other_team_clinician
):

    foreign = PatientFactory(care_team=other_team_clinician.memberships.get().team, display_name="Zeno")
    AccessEvent.objects.create(
        actor=clinician,
        actor_role="clinician",
        method="GET",
        path="/x/rosa",
        status_code=200,
        patient_ids=[str(patient.pk)],
    )
    AccessEvent.objects.create(
        actor=clinician,
        actor_role="clinician",
        method="GET",
        path="/x/bruno",
        status_code=200,
        patient_ids=[str(other_patient.pk)],
    )
    AccessEvent.objects.create(
        actor=other_team_clinician,
        actor_role="clinician",
        method="GET",
        path="/x/zeno",
        status_code=200,
        patient_ids=[str(foreign.pk)],
    )
    sign_in(client, team_admin)
    page = client.get("/clinic/access-log/").content.decode()
    assert "/x/rosa" in page
    assert "/x/bruno" in page
    assert "/x/zeno" not in page
    only_rosa = client.get(f"/clinic/access-log/?patient={patient.pk}").content.decode()
    assert "/x/rosa" in only_rosa
    assert "/x/bruno" not in only_rosa
    by_reader = client.get(f"/clinic/access-log/?reader={team_admin.pk}").content.decode()
    assert "/x/rosa" not in by_reader


def test_the_access_log_costs_the_same_queries_for_one_or_many_events(client, team_admin, clinician, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def read():
        AccessEvent.objects.create(
            actor=clinician,
            actor_role="clinician",
            method="GET",
            path="/x",
            status_code=200,
            patient_ids=[str(patient.pk)],
        )

    sign_in(client, team_admin)
    read()
    with CaptureQueriesContext(connection) as one:
        client.get("/clinic/access-log/")
    for _ in range(20):
        read()
    with CaptureQueriesContext(connection) as many:
        client.get("/clinic/access-log/")
    assert len(many) == len(one) <= 12
