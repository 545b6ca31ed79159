"""`local_date` is the patient's own calendar day, on DST days too, in the zone the phone was in.

Personas (tests/conftest.py): `patient` (Rosa, Europe/Rome) records her own diary;
`traveller` (below) is a patient enrolled long enough ago to log on last year's DST days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.diary_helpers import CHECKINS, RECORD_TYPES, checkin_body
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ZONES = ["Europe/Rome", "America/New_York", "Australia/Lord_Howe"]  # Lord Howe shifts by 30 minutes
LOCAL_TIMES = [time(0, 30), time(1, 30), time(2, 30), time(23, 30)]
# Last year's transitions have happened whatever today is.
YEAR = timezone.now().year - 1


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas get hashed passwords; these tests never log in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def traveller(team):
    """A patient enrolled before last year's DST days; the test sets their zone."""
    return PatientFactory(care_team=team, user__username="viaggiatore", enrolled_on=date(YEAR - 1, 12, 1))


def transition_days(zone: ZoneInfo, year: int) -> list[tuple[str, date]]:
    """The days of `year` on which the zone's UTC offset changes: ("spring"|"autumn", day)."""
    days = []
    day = date(year, 1, 1)
    while day.year == year:
        start = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).utcoffset()
        if start != end:
            days.append(("spring" if end > start else "autumn", day))
        day += timedelta(days=1)
    return days


def wall_clock_moments(zone: ZoneInfo, day: date, local: time) -> list[datetime]:
    """Every real moment showing `local` on `day` in the zone: none in a spring gap, two in
    an autumn overlap."""
    moments = []
    for fold in (0, 1):
        moment = datetime.combine(day, local, tzinfo=zone).replace(fold=fold)
        back = moment.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) == moment.replace(tzinfo=None) and moment.utcoffset() not in {
            m.utcoffset() for m in moments
        }:
            moments.append(moment)
    return moments


DST_CASES = [(name, season, day) for name in ZONES for season, day in transition_days(ZoneInfo(name), YEAR)]


def test_every_zone_has_a_spring_and_an_autumn_transition_last_year():
    seasons = {(name, season) for name, season, _ in DST_CASES}
    assert seasons == {(name, season) for name in ZONES for season in ("spring", "autumn")}


def test_the_wall_clock_helper_sees_the_gap_and_the_overlap():
    rome = ZoneInfo("Europe/Rome")
    (_, spring), (_, autumn) = transition_days(rome, YEAR)
    assert wall_clock_moments(rome, spring, time(2, 30)) == []
    assert len(wall_clock_moments(rome, autumn, time(2, 30))) == 2


@pytest.mark.parametrize(("zone_name", "season", "day"), DST_CASES, ids=[f"{z}-{s}" for z, s, _ in DST_CASES])
@pytest.mark.parametrize("sent_as", ["local offset", "utc"])
def test_local_date_is_the_local_calendar_day_on_dst_days(api, traveller, zone_name, season, day, sent_as):
    zone = ZoneInfo(zone_name)
    traveller.timezone = zone_name
    traveller.save()
    client = api(traveller.user)
    moments = [m for local in LOCAL_TIMES for m in wall_clock_moments(zone, day, local)]
    assert len(moments) >= 3

    for moment in moments:
        recorded_at = moment if sent_as == "local offset" else moment.astimezone(UTC)
        response = client.post(
            CHECKINS.url(), checkin_body(recorded_at=recorded_at.isoformat()), format="json"
        )

        assert response.status_code == 201, response.json()
        assert response.json()["local_date"] == day.isoformat(), moment
        assert response.json()["timezone"] == zone_name


@pytest.mark.parametrize(("zone_name", "season", "day"), DST_CASES, ids=[f"{z}-{s}" for z, s, _ in DST_CASES])
def test_the_phones_zone_decides_the_local_date_on_dst_days_through_sync(
    api, traveller, zone_name, season, day
):
    # The patient's own zone is far away: only the zone each record carries can give its day.
    traveller.timezone = "Pacific/Kiritimati"
    traveller.save()
    zone = ZoneInfo(zone_name)
    moments = [m for local in LOCAL_TIMES for m in wall_clock_moments(zone, day, local)]
    batch = {
        record_type.section: [
            record_type.body(**{record_type.observed: m.isoformat(), "timezone": zone_name}) for m in moments
        ]
        for record_type in RECORD_TYPES
    }

    results = api(traveller.user).post("/api/v1/sync/", batch, format="json").json()["results"]

    assert {r["status"] for r in results} == {"created"}
    for record_type in RECORD_TYPES:
        stored = record_type.model.objects.filter(patient=traveller)
        assert {(r.local_date, r.timezone) for r in stored} == {(day, zone_name)}
        assert stored.count() == len(moments)


def test_the_phones_zone_wins_over_the_patients_and_is_stored(api, patient):
    # 23:30 in New York is already tomorrow in Rome, the patient's zone.
    day = timezone.now().astimezone(ZoneInfo("America/New_York")).date() - timedelta(days=3)
    moment = datetime.combine(day, time(23, 30), tzinfo=ZoneInfo("America/New_York"))
    client = api(patient.user)

    abroad = client.post(
        CHECKINS.url(),
        checkin_body(recorded_at=moment.isoformat(), timezone="America/New_York"),
        format="json",
    ).json()
    at_home = client.post(CHECKINS.url(), checkin_body(recorded_at=moment.isoformat()), format="json").json()

    assert (abroad["local_date"], abroad["timezone"]) == (day.isoformat(), "America/New_York")
    assert (at_home["local_date"], at_home["timezone"]) == (
        (day + timedelta(days=1)).isoformat(),
        "Europe/Rome",
    )
    assert CHECKINS.model.objects.get(pk=abroad["id"]).timezone == "America/New_York"


def test_a_patient_who_changes_zone_keeps_the_local_date_of_older_records(api, patient):
    rome = ZoneInfo("Europe/Rome")
    day = timezone.now().astimezone(rome).date() - timedelta(days=5)
    # 00:30 in Rome is still the day before in New York.
    moment = datetime.combine(day, time(0, 30), tzinfo=rome)
    client = api(patient.user)
    old = client.post(CHECKINS.url(), checkin_body(recorded_at=moment.isoformat()), format="json").json()

    moved = client.patch("/api/v1/me/", {"timezone": "America/New_York"}, format="json")
    assert moved.status_code == 200
    patient.refresh_from_db()
    assert patient.timezone == "America/New_York"

    assert client.get(CHECKINS.url(old["id"])).json()["local_date"] == day.isoformat()
    corrected = client.patch(CHECKINS.url(old["id"]), {"pain_now": 2}, format="json").json()
    assert (corrected["local_date"], corrected["timezone"]) == (day.isoformat(), "Europe/Rome")
    # The same moment recorded now lands on New York's day.
    new = client.post(CHECKINS.url(), checkin_body(recorded_at=moment.isoformat()), format="json").json()
    assert (new["local_date"], new["timezone"]) == ((day - timedelta(days=1)).isoformat(), "America/New_York")
    listed = client.get(CHECKINS.url(), {"from": day.isoformat(), "to": day.isoformat()}).json()["results"]
    assert [r["id"] for r in listed] == [old["id"]]


def test_correcting_a_time_uses_the_zone_the_record_was_made_in(api, patient):
    ny = ZoneInfo("America/New_York")
    day = timezone.now().astimezone(ny).date() - timedelta(days=4)
    client = api(patient.user)
    record = client.post(
        CHECKINS.url(),
        checkin_body(
            recorded_at=datetime.combine(day, time(12), tzinfo=ny).isoformat(), timezone="America/New_York"
        ),
        format="json",
    ).json()

    # 23:00 in New York is the next day in Rome; the record keeps New York's calendar.
    later = datetime.combine(day, time(23), tzinfo=ny).astimezone(UTC).isoformat()
    corrected = client.patch(CHECKINS.url(record["id"]), {"recorded_at": later}, format="json").json()

    assert corrected["local_date"] == day.isoformat()
