"""Locust users of the soak (bench/soak.py starts Locust headless with this file; not run
on its own). Loopback only: bench/soak.py passes --host http://127.0.0.1:<port>.

- PhoneUser: takes the next slot of the manifest (a patient, or their caregiver reporting
  for them) and syncs a day's entries in one POST sync/ (a few days' backlog for a phone
  that was offline; 1 % with a red flag). It retries like the app: on a 5xx answer or a
  connection error it waits 1, 2, 4 ... 30 s (with jitter) and sends the same body with
  the same ids again, until the soak's retry deadline.
- NurseUser: one per team's nurse, every 30 s: the API's triage list GET patients/, the
  clinic page /clinic/ (a logged-in session), the open urgent alerts, and acknowledges up
  to two of them.

Every sync is written to the ledger (JSON lines, SOAK_LEDGER): "sent" with the record ids
before the first attempt, "answered" with each record's status once an answer came, or
"gave_up" at the deadline. The reconciliation reads it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import diary_model  # bench/, beside this file
import gevent
from django_otp.oath import totp  # RFC 6238, as the clinic checks the code
from locust import FastHttpUser, HttpUser, constant_pacing, events, task

MANIFEST = json.loads(open(os.environ["SOAK_MANIFEST"]).read())  # noqa: SIM115 - read once at import
LEDGER = open(os.environ["SOAK_LEDGER"], "a", buffering=1)  # noqa: SIM115 - closed at Locust's exit
SLOTS = iter(enumerate(MANIFEST["slots"]))
DEADLINE = MANIFEST["deadline"]  # no new sync after this (epoch seconds)
RETRY_DEADLINE = MANIFEST["retry_deadline"]  # a phone stops retrying here
NURSE_INDEX = itertools.count()
INTERFERENCE = ("general_activity", "mood", "walking", "work", "relations", "sleep", "enjoyment")


IN_FLIGHT = [0]  # syncs not yet answered (retrying phones)


def finish_when_done(environment) -> None:
    """After the deadline, once no phone is retrying, end the run instead of idling."""
    if time.time() >= DEADLINE and IN_FLIGHT[0] == 0 and environment.runner is not None:
        gevent.spawn_later(0.1, environment.runner.quit)


def write(record: dict) -> None:
    LEDGER.write(json.dumps(record, separators=(",", ":")) + "\n")


@events.quitting.add_listener
def _close_ledger(environment, **kwargs) -> None:
    LEDGER.flush()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def day_entries(slot: dict, now: datetime, days_back: int, rng: random.Random, red_flag: bool) -> dict:
    """What the app sends for one day, `days_back` days ago: the patient's own pain level
    and symptoms as in the cohort's history (bench/diary_model.py)."""
    base = now - timedelta(days=days_back)
    pain = diary_model.day_pain(slot["pain_level"], rng)
    checkin = {
        "id": str(uuid.uuid4()),
        "recorded_at": iso(base - timedelta(minutes=5)),
        "pain_now": pain,
        "pain_worst": min(10, pain + 1),
        "interference": diary_model.interference(pain, INTERFERENCE, rng),
        "symptoms": diary_model.symptoms(pain, rng),
    }
    if red_flag:
        checkin["red_flags"] = ["saddle_numbness"]
    body: dict[str, list] = {"checkins": [checkin], "medications": [], "boluses": [], "adverse_effects": []}
    if slot["opioid"]:
        for hours in (13, 1):
            body["medications"].append(
                {
                    "id": str(uuid.uuid4()),
                    "taken_at": iso(base - timedelta(hours=hours)),
                    "drug": "oxycodone",
                    "dose": 10,
                    "unit": "mg",
                    "route": "oral",
                }
            )
        if rng.random() < 0.1:
            body["adverse_effects"].append(
                {
                    "id": str(uuid.uuid4()),
                    "recorded_at": iso(base - timedelta(minutes=7)),
                    "effect": "constipation",
                    "grade": 1,
                    "suspected_drug": "oxycodone",
                }
            )
    if slot["idds"]:
        for hours in (2, 7, 12):
            body["boluses"].append(
                {
                    "id": str(uuid.uuid4()),
                    "occurred_at": iso(base - timedelta(hours=hours)),
                    "outcome": "delivered",
                    "dose": 0.05,
                    "unit": "ml",
                    "source": "pump_log",
                }
            )
    return body


TYPES = {
    "checkins": "checkin",
    "medications": "medication",
    "boluses": "bolus",
    "adverse_effects": "adverse_effect",
}


def poisson_arrivals(mean_seconds: float):
    """Phones arrive at random, not in step: exponential waits make the syncs of all the
    phones together a Poisson stream at the cohort's rate (with a fixed pacing, every phone
    started in the same second would sync in the same second, a burst every pacing)."""
    rng = random.Random()

    def wait_time(user) -> float:
        return rng.expovariate(1 / mean_seconds)

    return wait_time


class PhoneUser(FastHttpUser):
    wait_time = poisson_arrivals(MANIFEST["phone_pacing"])
    fixed_count = MANIFEST["phones"]
    # A phone waits a while for an answer, as the app does, before it counts a failure.
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        # Started together, the phones begin at random moments of their first interval.
        gevent.sleep(random.uniform(0, MANIFEST["phone_pacing"]))

    @task
    def sync_a_day(self) -> None:
        if time.time() >= DEADLINE:
            finish_when_done(self.environment)
            gevent.sleep(1)
            return
        try:
            number, slot = next(SLOTS)
        except StopIteration:
            gevent.sleep(5)
            return
        rng = random.Random(number)
        now = datetime.now(UTC)
        body: dict[str, list] = {k: [] for k in TYPES}
        for days_back in range(slot["backlog"], -1, -1):
            day = day_entries(slot, now, days_back, rng, red_flag=slot["red_flag"] and days_back == 0)
            for kind in TYPES:
                body[kind] += day[kind]
        token = slot["token"]
        if slot.get("caregiver_token"):
            token = slot["caregiver_token"]
            for kind in TYPES:
                for item in body[kind]:
                    item["patient"] = slot["patient"]
        red_flag_id = body["checkins"][-1]["id"] if slot["red_flag"] else None
        ids = [[TYPES[kind], item["id"]] for kind in TYPES for item in body[kind]]
        raw = json.dumps(body)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        first = time.time()
        write(
            {
                "e": "sent",
                "slot": number,
                "patient": slot["patient"],
                "ids": ids,
                "red_flag": red_flag_id,
                "t": first,
            }
        )
        IN_FLIGHT[0] += 1
        try:
            self.send(number, slot, raw, headers, first, red_flag_id, rng)
        finally:
            IN_FLIGHT[0] -= 1

    def send(self, number, slot, raw, headers, first, red_flag_id, rng) -> None:
        attempt, delay = 0, 1.0
        while True:
            attempt += 1
            started = time.time()
            with self.client.post(
                "/api/v1/sync/", data=raw, headers=headers, name="sync/", catch_response=True
            ) as r:
                status = r.status_code or 0
                if status == 200:
                    try:
                        results = [[x["type"], x["id"], x["status"]] for x in r.json()["results"]]
                    except (ValueError, KeyError, TypeError):
                        r.failure("unreadable answer")
                        results = None
                    if results is not None:
                        r.success()
                        write(
                            {
                                "e": "answered",
                                "slot": number,
                                "results": results,
                                "t_first": first,
                                "t_sent": started,
                                "t_ok": time.time(),
                                "attempts": attempt,
                                "red_flag": red_flag_id,
                                "patient": slot["patient"],
                            }
                        )
                        return
                elif 400 <= status < 500:
                    r.failure(f"HTTP {status}")
                    write({"e": "rejected", "slot": number, "status": status, "t": time.time()})
                    return
                else:
                    r.failure(f"HTTP {status or 'connection error'}")
            if time.time() + delay >= RETRY_DEADLINE:
                write({"e": "gave_up", "slot": number, "attempts": attempt, "t": time.time()})
                return
            gevent.sleep(delay * rng.uniform(0.8, 1.2))
            delay = min(30.0, delay * 2)


class NurseUser(HttpUser):
    wait_time = constant_pacing(30)
    fixed_count = len(MANIFEST["nurses"])

    def on_start(self) -> None:
        gevent.sleep(random.uniform(0, 30))  # the nurses' refreshes are not in step either
        self.nurse = MANIFEST["nurses"][next(NURSE_INDEX) % len(MANIFEST["nurses"])]
        self.headers = {"Authorization": f"Bearer {self.nurse['token']}"}
        self.logged_in = False

    def form_token(self, path: str) -> str | None:
        page = self.client.get(path, name=path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text or "")
        return match.group(1) if match else None

    def clinic_login(self) -> None:
        """Password, then the authenticator's code, once a shift: the session is kept."""
        token = self.form_token("/clinic/login/")
        if token is None:
            return
        answer = self.client.post(
            "/clinic/login/",
            data={
                "csrfmiddlewaretoken": token,
                "username": self.nurse["username"],
                "password": MANIFEST["nurse_password"],
            },
            headers={"Referer": f"{self.host}/clinic/login/"},
            name="/clinic/login/",
            allow_redirects=False,
        )
        if answer.status_code != 302 or not answer.headers.get("Location", "").endswith(
            "/clinic/login/code/"
        ):
            return
        token = self.form_token("/clinic/login/code/")
        if token is None:
            return
        answer = self.client.post(
            "/clinic/login/code/",
            data={"csrfmiddlewaretoken": token, "code": f"{totp(bytes.fromhex(self.nurse['totp_key'])):06d}"},
            headers={"Referer": f"{self.host}/clinic/login/code/"},
            name="/clinic/login/code/",
            allow_redirects=False,
        )
        self.logged_in = answer.status_code == 302 and "/clinic/login" not in answer.headers.get(
            "Location", ""
        )

    @task
    def keep_the_triage_list_open(self) -> None:
        if time.time() >= DEADLINE:
            gevent.sleep(1)
            return
        self.client.get("/api/v1/patients/", headers=self.headers, name="patients/")
        if not self.logged_in:
            self.clinic_login()
        if self.logged_in:
            page = self.client.get("/clinic/", name="/clinic/", allow_redirects=False)
            if page.status_code == 302:  # the session was lost: log in again next time
                self.logged_in = False
        alerts = self.client.get(
            "/api/v1/alerts/?status=open&severity=urgent", headers=self.headers, name="alerts/?status=open"
        )
        try:
            open_alerts = alerts.json()["results"][:2] if alerts.status_code == 200 else []
        except (ValueError, KeyError, TypeError):
            open_alerts = []
        for alert in open_alerts:
            self.client.post(
                f"/api/v1/alerts/{alert['id']}/acknowledge/",
                json={"note": "seen in the soak"},
                headers=self.headers,
                name="alerts/{id}/acknowledge/",
            )
