"""Builders for alert tests: day values and windows by hand (no database) for the rules,
and a phone's diary posted through the API, at chosen local days, for the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.utils import timezone

from alerts.rules import RULES, Day, Finding, PatientContext, Window, default_params
from care.models import Patient, TeamRole
from tests.factories import ClinicianFactory

# --- Pure rule tests: a window built by hand ----------------------------------------------

TODAY = date(2025, 3, 20)


def ago(days: int, today: date = TODAY) -> date:
    return today - timedelta(days=days)


def checkin(days_ago: int, pain: int | None = None, **values: Any) -> Day:
    """A day with a check-in, `days_ago` days before TODAY."""
    return Day(date=ago(days_ago), has_checkin=True, pain=pain, **values)


def events(days_ago: int, **values: Any) -> Day:
    """A day with records but no check-in (an adverse effect, a bolus)."""
    return Day(date=ago(days_ago), **values)


def pains(*values: int | None) -> list[Day]:
    """Check-ins with these day pains: the first is today, then yesterday...; None is a day
    without a check-in."""
    return [checkin(i, pain) for i, pain in enumerate(values) if pain is not None]


def window(*days: Day | list[Day], today: date = TODAY) -> Window:
    flat: list[Day] = []
    for item in days:
        flat.extend(item if isinstance(item, list) else [item])
    return Window(today=today, days={d.date: d for d in flat})


def context(**fields: Any) -> PatientContext:
    return PatientContext(today=TODAY, **fields)


ON_OPIOIDS = {"baseline_mme": Decimal(300)}


def run(code: str, win: Window, ctx: PatientContext | None = None, **params: Any) -> Finding | None:
    """The rule with SPEC defaults, overridden by `params`."""
    return RULES[code].check(win, ctx or context(), {**default_params(code), **params})


def evidence_dates(found: Finding) -> list[str]:
    return [d["date"] for d in found.evidence["days"]]


# --- Engine and API tests: a diary posted through POST sync/ ------------------------------


def local_moment(patient: Patient, days_ago: int, at: time = time(10, 0)) -> datetime:
    """A moment on the patient's local day `days_ago` days before their today. Today's
    moment is kept in the past so that the server accepts it."""
    day = patient.local_today() - timedelta(days=days_ago)
    moment = datetime.combine(day, at, tzinfo=patient.zone)
    return min(moment, timezone.now() - timedelta(minutes=1))


def checkin_item(patient: Patient, days_ago: int, pain: int, **fields: Any) -> dict[str, Any]:
    moment = fields.pop("recorded_at", None) or local_moment(patient, days_ago)
    return {"id": str(uuid.uuid4()), "recorded_at": moment.isoformat(), "pain_now": pain, **fields}


def sync(client, **sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/sync/", sections, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert all(r["status"] in {"created", "duplicate"} for r in results), results
    return results


def post_days(client, patient: Patient, day_pains: dict[int, int], **fields: Any) -> list[dict[str, Any]]:
    """One check-in per local day: {days_ago: pain}."""
    items = [checkin_item(patient, days_ago, pain, **fields) for days_ago, pain in day_pains.items()]
    return sync(client, checkins=items)


def nurse_of(team, username: str = "nurse-neri", **fields: Any):
    """Tier 1 of the default escalation policy, with an email address so that the outbox
    has a row for them."""
    fields.setdefault("email", f"{username}@hospital.example")
    return ClinicianFactory(username=username, team=team, team__team_role=TeamRole.NURSE, **fields)


@contextmanager
def frozen_clock(moment: datetime) -> Iterator[list[datetime]]:
    """Patch django.utils.timezone.now (the clock every write path reads). Yields a
    one-item list: assign `clock[0] = later` to move time."""
    clock = [moment]
    with mock.patch("django.utils.timezone.now", side_effect=lambda: clock[0]):
        yield clock


class RecordingPushTransport:
    """A fake push provider (the network boundary): remembers what it was asked to send."""

    sent: list[dict[str, Any]] = []

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        self.sent.append({"platform": platform, "token": token, **payload})
