"""The triage page is read from the (care_team, triage_key) index of the status row, on
PostgreSQL, for the API's list and the clinic page alike: 50 rows in key order, not the
whole team read and sorted (docs/performance.md, "Problems found" 1).

The fixture is a team of 3,000 patients and another of 1,000, analyzed so that the
planner sees their real sizes. The test captures the page query each view sends and asks
PostgreSQL for its plan.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from care.models import CareTeam, Patient, PatientStatus, triage_key
from tests.reliability_helpers import missing_services, needs

pytestmark = [pytest.mark.django_db, needs(missing_services())]

INDEX = "patientstatus_team_triage_key"


@pytest.fixture
def big_team(team):

    other = CareTeam.objects.create(name="Another clinic")
    patients = Patient.objects.bulk_create(
        Patient(
            care_team=team if n < 3000 else other,
            display_name=f"Patient {n:05d}",
            timezone="Europe/Rome",
            enrolled_on=date(2026, 1, 1),
        )
        for n in range(4000)
    )
    PatientStatus.objects.bulk_create(
        PatientStatus(
            patient=p,
            care_team_id=p.care_team_id,
            severity_rank=(n % 7 == 0) * 3,
            triage_key=triage_key((n % 7 == 0) * 3, 0, None, p.display_name, p.pk),
        )
        for n, p in enumerate(patients)
    )
    with connection.cursor() as cursor:
        for table in ("care_patient", "care_patientstatus", "care_teammembership", "care_careteam"):
            cursor.execute(f"ANALYZE {table}")
    return team


def page_query(get) -> str:
    """The SQL of the page among a request's queries, as Django sent it."""
    with CaptureQueriesContext(connection) as captured:
        response = get()
    assert response.status_code == 200
    pages = [q["sql"] for q in captured if "ORDER BY" in q["sql"] and '"care_patientstatus"' in q["sql"]]
    assert len(pages) == 1, [q["sql"][:100] for q in captured]
    return pages[0]


def plan_nodes(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes, todo = [], [plan]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", ()))
    return nodes


def assert_read_from_the_index(sql: str) -> None:
    # The team ids are literals: with the memberships as a subquery, PostgreSQL misjudged
    # the rows of a cohort of 50,000 in ten teams and read and sorted the whole team (21.6
    # ms against 0.9 ms for the clinic page, docs/capacity.md finding 13), a plan this
    # fixture alone does not provoke.
    assert '"care_teammembership"' not in sql.split(" FROM ", 1)[1], sql
    nodes = plan_nodes(sql)
    kinds = [n["Node Type"] for n in nodes]
    assert any(n.get("Index Name") == INDEX and "Index" in n["Node Type"] for n in nodes), kinds
    assert not {"Sort", "Incremental Sort"} & set(kinds), kinds
    scanned = {n.get("Relation Name") for n in nodes if n["Node Type"] in ("Seq Scan", "Bitmap Heap Scan")}
    assert not scanned & {"care_patient", "care_patientstatus"}, kinds


def test_the_api_triage_page_and_the_next_one_are_ranges_of_the_team_index(api, clinician, big_team):
    client = api(clinician)
    first = page_query(lambda: client.get("/api/v1/patients/"))
    assert_read_from_the_index(first)

    body = client.get("/api/v1/patients/").json()
    assert len(body["results"]) == 50
    second = page_query(lambda: client.get(body["next"]))
    assert_read_from_the_index(second)


def test_the_clinic_triage_page_is_a_range_of_the_team_index(client, clinician, big_team, settings):
    settings.CLINIC_REQUIRE_2FA = False  # the page's query is the point, not the sign-in
    client.force_login(clinician)
    first = page_query(lambda: client.get("/clinic/"))
    assert_read_from_the_index(first)


def test_the_index_order_is_the_triage_order_and_only_the_clinicians_team(api, clinician, big_team):

    client = api(clinician)
    page = client.get("/api/v1/patients/?page_size=100").json()["results"]
    names = [row["display_name"] for row in page]
    # Urgent first (every seventh patient), then by name; nobody of the other team.
    urgent = [f"Patient {n:05d}" for n in range(0, 3000, 7)]
    assert names == urgent[:100]
    assert not Patient.objects.filter(display_name__in=names).exclude(care_team=big_team).exists()
