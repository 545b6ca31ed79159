"""Named personas: each says what it may see. Tests read as stories about these people."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from alerts import dispatch
from alerts.dispatch import breaker
from care.models import Role, TeamRole
from care.vapid import generate_private_key
from tests.factories import (
    CaregiverLinkFactory,
    CareTeamFactory,
    ClinicianFactory,
    PatientFactory,
    UserFactory,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


def needs_service(name: str, available: bool) -> pytest.MarkDecorator:
    """Skip outside CI when a real service is missing; in CI a missing service fails."""
    return pytest.mark.skipif(
        not (available or IN_CI), reason=f"{name} is not configured here (it always runs in CI)"
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength costs ~0.3 s per persona; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# One VAPID key for the whole run (the demo and production read theirs from the environment).
TEST_VAPID_KEY = generate_private_key()


@pytest.fixture(autouse=True)
def _vapid_key(settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = TEST_VAPID_KEY


@pytest.fixture(autouse=True)
def _closed_broker_breaker():
    # A test that makes the broker fail trips the per-process breaker, and leaves what it
    # could not send to be sent again: not the next test's.
    breaker.reset()
    dispatch._unsent.clear()
    yield
    breaker.reset()
    dispatch._unsent.clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle and lockout counters must not leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team():
    return CareTeamFactory(name="Pain Unit A")


@pytest.fixture
def other_team():
    return CareTeamFactory(name="Pain Unit B")


@pytest.fixture
def patient(team):
    """Sees only their own record, diary and alert status."""
    return PatientFactory(care_team=team, user__username="rosa", display_name="Rosa")


@pytest.fixture
def other_patient(team):
    """Same team as `patient`: must never see `patient`'s data (nor the reverse)."""
    return PatientFactory(care_team=team, user__username="bruno", display_name="Bruno")


@pytest.fixture
def caregiver(patient):
    """Linked to `patient` with can_view and can_report."""
    return CaregiverLinkFactory(patient=patient, caregiver__username="marco").caregiver


@pytest.fixture
def blind_caregiver(patient):
    """Linked to `patient` to report only (can_view false)."""
    return CaregiverLinkFactory(patient=patient, caregiver__username="lucia", can_view=False).caregiver


@pytest.fixture
def revoked_caregiver(patient):
    """Was linked to `patient`; the link is revoked, so they see nothing."""
    link = CaregiverLinkFactory(patient=patient, caregiver__username="ex-carer")
    link.revoke()
    return link.caregiver


@pytest.fixture
def clinician(team):
    """Pain physician of `team`: sees every patient of that team."""
    return ClinicianFactory(username="dr-bianchi", team=team)


@pytest.fixture
def team_admin(team):
    """Team admin of `team`: sees the team's patients and edits rules and policies."""
    return ClinicianFactory(username="admin-verdi", team=team, team__team_role=TeamRole.TEAM_ADMIN)


@pytest.fixture
def other_team_clinician(other_team):
    """Clinician of another team: sees none of `team`'s patients."""
    return ClinicianFactory(username="dr-rossi", team=other_team)


@pytest.fixture
def anonymous():
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api():
    """`api(user)` is a client authenticated as that user with a real JWT."""
    return client_for


@pytest.fixture
def make_user():
    def make(role=Role.PATIENT, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make
