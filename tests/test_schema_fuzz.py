"""Schemathesis drives the real WSGI app, in-process, through every operation of the schema,
as each kind of caller: no answer may be a 500, and none may contradict the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.wsgi import application
from care.models import CaregiverLink

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/",
    application,
    config=schemathesis.Config.from_dict(
        {
            # Derandomized and small: the same cases on every run, well within CI's budget.
            "generation": {"max-examples": 15, "deterministic": True, "database": "none"},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        }
    ),
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    # Django's own test client does this: the WSGI handler would otherwise close the test's
    # database connection after each request, and with it the transaction holding the test data.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def callers(patient, caregiver, clinician, team_admin) -> dict[str, dict[str, str]]:
    users = {
        "patient": patient.user,
        "caregiver": caregiver,
        "clinician": clinician,
        "team_admin": team_admin,
    }
    headers = {
        role: {"Authorization": f"Bearer {RefreshToken.for_user(u).access_token}"}
        for role, u in users.items()
    }
    return {"anonymous": {}, **headers}  # in ROLES order


@pytest.fixture
def known_ids(patient, caregiver, team) -> dict[str, str]:
    """Ids of objects that exist, so that detail operations also answer more than a 404."""
    link = CaregiverLink.objects.get(caregiver=caregiver)
    return {"patient": str(patient.pk), "link": str(link.pk), "team": str(team.pk)}


def existing(path: str, parameters: dict, ids: dict[str, str]) -> dict | None:
    """The case's path parameters pointing at `patient`'s objects, when we know what they name."""
    named = {
        "patient_pk": ids["patient"],
        "patient_id": ids["patient"],
        "team_id": ids["team"],
        "id": ids["link"]
        if "/caregivers/" in path
        else ids["patient"]
        if path.startswith("/patients/")
        else None,
    }
    if any(named.get(name) is None for name in parameters):
        return None
    return {name: named[name] for name in parameters}


@schema.parametrize()
# The callers are made once per operation; the cases only read them.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_operation_answers_a_500_or_contradicts_its_schema(case, callers, known_ids):
    # Each generated case goes out as every kind of caller: generating is the slow part.
    real = existing(case.path, case.path_parameters or {}, known_ids) if case.path_parameters else None
    for path_parameters in filter(None, [case.path_parameters, real]):
        case.path_parameters = path_parameters
        for role, headers in callers.items():
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except Exception as failure:
                failure.add_note(f"Calling as {role}, to {case.formatted_path}")
                raise
