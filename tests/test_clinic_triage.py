"""The triage page: filters, search, pain today with its time, the 7-day trend as a
chart and a word, and the rows' partial that htmx asks for every few seconds."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from care.models import AccessEvent, PatientStatus
from diary.models import CheckIn
from tests.alerts_helpers import post_days
from tests.clinic_helpers import post_red_flag
from tests.clinic_signin import sign_in
from tests.factories import CareTeamFactory, PatientFactory, TeamMembership

pytestmark = pytest.mark.django_db


@pytest.fixture
def worsening(api, team, django_capture_on_commit_callbacks):
    """Carla: day pain climbing over the week, 8 today."""
    carla = PatientFactory(care_team=team, display_name="Carla")
    with django_capture_on_commit_callbacks(execute=True):
        post_days(api(carla.user), carla, {6: 2, 5: 3, 4: 4, 3: 5, 2: 6, 1: 7, 0: 8})
    return carla


@pytest.fixture
def urgent_alert_for(api, django_capture_on_commit_callbacks):
    def raise_for(patient):
        with django_capture_on_commit_callbacks(execute=True):
            post_red_flag(api(patient.user))

    return raise_for


def rows_of(page: str) -> str:
    return page[page.index('id="triage-rows"') :]


def test_today_pain_shows_with_its_time_on_the_clinicians_clock_and_the_trend_as_chart_and_word(
    client, clinician, worsening
):
    sign_in(client, clinician)
    page = rows_of(client.get("/clinic/").content.decode())
    today = CheckIn.objects.get(patient=worsening, local_date=worsening.local_today())
    assert (
        f'<strong>8</strong>/10 <span class="muted">at {timezone.localtime(today.recorded_at, ZoneInfo(clinician.timezone)):%H:%M}'
        in page
    )
    assert 'class="spark"' in page
    assert "worsening" in page


def test_search_and_filters_narrow_the_list(client, clinician, patient, worsening, urgent_alert_for):
    urgent_alert_for(worsening)
    sign_in(client, clinician)
    assert "Rosa" not in rows_of(client.get("/clinic/?q=carl").content.decode())
    assert "Carla" in rows_of(client.get("/clinic/?q=carl").content.decode())
    urgent_only = rows_of(client.get("/clinic/?severity=urgent").content.decode())
    assert "Carla" in urgent_only
    assert "Rosa" not in urgent_only
    without_referral = rows_of(client.get("/clinic/?referral=none").content.decode())
    assert "Rosa" in without_referral


def test_the_team_filter_offers_only_the_clinicians_teams(client, clinician, team, patient):
    second = CareTeamFactory(name="Palliative B")
    TeamMembership.objects.create(team=second, user=clinician, team_role="nurse")
    PatientFactory(care_team=second, display_name="Dario")
    CareTeamFactory(name="Somebody else's team")
    sign_in(client, clinician)
    page = client.get("/clinic/").content.decode()
    assert "Palliative B" in page
    assert "Somebody else" not in page
    only_second = rows_of(client.get(f"/clinic/?team={second.pk}").content.decode())
    assert "Dario" in only_second
    assert "Rosa" not in only_second
    assert client.get("/clinic/?team=not-a-team").status_code == 200  # ignored, not a 500


def test_the_htmx_poll_gets_only_the_rows_and_is_audited(client, clinician, patient):
    sign_in(client, clinician)
    response = client.get("/clinic/?poll=1", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith("<tbody")
    assert "<html" not in body
    assert "Rosa" in body
    assert 'hx-trigger="every ' in body
    assert AccessEvent.objects.filter(actor=clinician, patient_ids=[str(patient.pk)]).exists()


def test_a_poll_after_the_session_ended_sends_the_tab_to_the_login(client, clinician):
    response = client.get("/clinic/?poll=1", headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith("/clinic/login/")


def test_the_triage_page_costs_the_same_queries_for_one_or_fifty_patients(client, clinician, team):
    sign_in(client, clinician)
    PatientFactory(care_team=team)
    with CaptureQueriesContext(connection) as one:
        client.get("/clinic/")
    for _ in range(30):
        PatientFactory(care_team=team)
    with CaptureQueriesContext(connection) as many:
        client.get("/clinic/")
    # 13: the session, the user and the second factor; the clinician's teams for the filter
    # form, for the index-ordered read and for the page; the count and the page; the week's
    # pain; the audit row; the session's save (a savepoint pair around its UPDATE).
    assert len(many) == len(one) <= 13, [q["sql"] for q in many.captured_queries]


def test_yesterdays_pain_is_not_shown_as_today(client, clinician, patient):
    from datetime import timedelta

    PatientStatus.objects.filter(patient=patient).update(
        pain_today=7, pain_today_date=patient.local_today() - timedelta(days=1)
    )
    sign_in(client, clinician)
    assert "<strong>7</strong>/10" not in rows_of(client.get("/clinic/").content.decode())
