"""Alert rate: the alert burden of a simulated cohort, by rule, per patient-week.

Issue 4 "Performance". A cohort of patients (default 120; --patients 300 for "a few
hundred") with mixed trajectories keeps a diary for 8 weeks, fed day by day through the
real write path: diary.sync.sync_batch (diary.ingest: validation, build_record,
store_records), whose commit announcement writes the EvaluationRequest and enqueues the
evaluation task (to Redis database 15, where nobody consumes it); this process then does
what that task does on a worker, alerts.queue.evaluate_and_clear. Notification
rows are written to the outbox as in production; their delivery tasks wait in Redis too.
The clock is django.utils.timezone.now, patched to each simulated moment. The cohort is
split over --workers processes (patients are independent, so the split does not change
the outcome); on --sqlite it runs in one.

Each simulated day (Europe/Rome):

- 09:00-10:00 every patient who keeps the diary that day syncs one batch: the morning
  check-in, yesterday evening's and this morning's doses, the pump boluses of the last
  24 hours and any adverse effect; the patient is evaluated after the sync;
- 12:00 a nurse acknowledges open alerts; alerts are resolved after a fixed number of
  days per severity (--resolve-days), and the action taken works six times in ten (pain
  relief, an opioid started, a laxative, pump titration); referrals are accepted after 2
  days and completed 10 days later; pumps are refilled on their date;
- 21:00 the scheduled rules (alerts.schedule.evaluate_scheduled: the rules whose registry
  entry says they run on the clock) for the patients who did not sync that day (those who
  did were evaluated with every rule after their sync).

Trajectories (shares of the cohort): controlled pain, persistent pain on opioids, rapid
deterioration (half of them with limited prognosis), neuropathic pain, cancer survivors,
intrathecal pump with PTA overuse, missed days, a gastrointestinal cluster; red flags and
wishes to change treatment occur at random in everyone. The seed is fixed.

It prints, per rule, the patient-days on which the rule was met ("finding-days"), the
alerts opened, what dedup (an unresolved alert already there), cooldown (72 h after
resolution) and "no new evidence after cooldown" suppressed, and alerts per patient-week;
overall and per trajectory, the share of patient-weeks with at least one alert (PRO-TECT:
34% of weekly surveys raised one; the ratio printed is this share over PRO-TECT's), and
the outbox rows. Every synced item must be answered `created`, or the run fails.

    .venv/bin/python bench/alert_rate.py
    .venv/bin/python bench/alert_rate.py --patients 300
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import benchlib

DATABASE = benchlib.setup("crossroad_bench_alert_rate")

# The product, once Django is set up.
from django.conf import settings

from alerts import queue, schedule
from alerts.actions import evaluation
from alerts.actions.lifecycle import acknowledge_alert, resolve_alert
from alerts.actions.referrals import move_referral
from alerts.models import Alert, AlertEvent, Notification, ReferralRecommendation
from alerts.rules import RULES
from care.models import CareTeam, Patient, Role, TeamMembership, TeamRole, User
from care.services import update_patient
from diary import catalog
from diary.sync import sync_batch

ZONE = ZoneInfo("Europe/Rome")
START = date(2026, 2, 2)  # a Monday; the 8 weeks cross the spring DST change (29 March)
TRAJECTORIES = {
    # name: share of the cohort
    "controlled": 0.30,
    "persistent_opioid": 0.14,
    "deterioration": 0.08,
    "neuropathic": 0.10,
    "survivor": 0.08,
    "pta_overuse": 0.05,
    "missed_days": 0.15,
    "gi_cluster": 0.10,
}
NEUROPATHIC = tuple(catalog.NEUROPATHIC_DESCRIPTORS)
INTERFERENCE = tuple(catalog.INTERFERENCE_ITEMS)
RED_FLAGS = tuple(catalog.RED_FLAGS)
PRO_TECT_SHARE = 0.34
# What the team's action does when it works, by the rule of the alert it resolved (see
# Person.treat); every code must be a rule of the registry.
PAIN_RELIEF = ("persistent_pain", "pain_interference", "refractory_neuropathic", "survivor_pain")
TREATED = {*PAIN_RELIEF, "uncontrolled_pain_no_opioid", "rapid_deterioration", "limiting_adverse_effects"}
TREATED |= {"symptom_cluster", "pta_overuse"}
assert set(RULES) >= TREATED, f"rules the simulation treats are not in the registry: {TREATED - set(RULES)}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=120, help="cohort size (120)")
    parser.add_argument("--weeks", type=int, default=8, help="simulated weeks (8)")
    parser.add_argument(
        "--resolve-days",
        default="urgent=1,warning=3,info=5",
        help="days before the team resolves an alert, per severity (urgent=1,warning=3,info=5)",
    )
    parser.add_argument("--red-flag-rate", type=float, default=0.002, help="per check-in (0.002)")
    parser.add_argument("--workers", type=int, default=2, help="processes, each a share of the cohort (2)")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead (one process)")
    benchlib.add_database_options(parser, "crossroad_bench_alert_rate")
    parser.add_argument("--seed", type=int, default=6)
    return parser.parse_args(argv)


def clamp(value: float, low: int = 0, high: int = 10) -> int:
    return int(max(low, min(high, round(value))))


# --- the cohort ------------------------------------------------------------------------------


@dataclass
class Person:
    """One simulated patient: a trajectory and what it decides day by day."""

    kind: str
    rng: random.Random
    days: int
    base: float = 2.0
    onset: int = 10_000  # deterioration: the day pain starts rising
    missed: set[int] = field(default_factory=set)
    gi_days: set[int] = field(default_factory=set)
    opioid: bool = False
    adjuvant: bool = False
    # Treatment response: what the team's action changes (see treat()).
    relief: float = 0.0
    ae_factor: float = 1.0
    pta_factor: float = 1.0
    patient: Any = None
    user: Any = None

    @classmethod
    def make(cls, kind: str, rng: random.Random, days: int) -> Person:
        p = cls(kind=kind, rng=rng, days=days)
        p.base = {
            "controlled": rng.uniform(1.0, 2.5),
            "persistent_opioid": rng.uniform(5.0, 6.0),
            "deterioration": rng.uniform(2.0, 3.0),
            "neuropathic": rng.uniform(4.0, 5.5),
            "survivor": rng.uniform(3.0, 4.5),
            "pta_overuse": rng.uniform(4.0, 5.5),
            "missed_days": rng.uniform(1.5, 4.0),
            "gi_cluster": rng.uniform(2.5, 4.0),
        }[kind]
        p.opioid = kind in ("persistent_opioid", "deterioration", "neuropathic", "gi_cluster") or (
            kind in ("controlled", "missed_days") and rng.random() < 0.5
        )
        p.adjuvant = kind == "neuropathic"
        if kind == "deterioration":
            p.onset = rng.randint(min(14, days // 3), max(min(14, days // 3), days - 10))
        # Everyone forgets now and then; some patients stop for days at a time.
        p.missed = {d for d in range(days) if rng.random() < 0.06}
        if kind == "missed_days":
            d = rng.randint(0, 6)
            while d < days:
                gap = rng.randint(2, 7)
                p.missed.update(range(d, min(days, d + gap)))
                d += gap + rng.randint(3, 12)
        if kind == "gi_cluster":
            for _ in range(2):
                first = rng.randint(0, max(0, days - 8))
                p.gi_days.update(range(first, first + rng.randint(4, 8)))
        return p

    def level(self, d: int) -> float:
        level = self.base
        if d >= self.onset:
            level = min(9.0, self.base + 2.2 * (d - self.onset + 1))
        return max(0.5, level - self.relief)

    def treat(self, rule: str, d: int) -> None:
        """The team acted on a resolved alert; it works about six times in ten."""
        if self.rng.random() >= 0.6:
            return
        if rule in PAIN_RELIEF:
            self.relief += self.rng.uniform(1.0, 2.0)
        elif rule == "uncontrolled_pain_no_opioid":
            self.opioid = True
            self.relief += self.rng.uniform(1.0, 2.0)
        elif rule == "rapid_deterioration":
            if d >= self.onset:  # the rise is stopped where it is, then brought down
                self.base, self.onset = self.level(d) + self.relief, 10_000
            self.relief += self.rng.uniform(1.5, 2.5)
        elif rule == "limiting_adverse_effects":
            self.ae_factor *= 0.4
        elif rule == "symptom_cluster":
            self.gi_days = {g for g in self.gi_days if g <= d}
            self.relief += self.rng.uniform(0.5, 1.5)
        elif rule == "pta_overuse":
            self.pta_factor *= 0.3

    def pain(self, d: int) -> tuple[int, int]:
        r = self.rng
        now = clamp(self.level(d) + r.gauss(0, 0.8))
        worst = clamp(now + r.choice((0, 0, 1, 1, 2)))
        return now, worst

    def checkin(self, d: int, moment: datetime, red_flag_rate: float) -> dict[str, Any]:
        r = self.rng
        now, worst = self.pain(d)
        tired = clamp(now - 1 + r.gauss(0, 1.5))
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "recorded_at": moment.isoformat(),
            "pain_now": now,
            "pain_worst": worst,
            "pain_average": clamp((now + worst) / 2),
            "interference": {
                k: clamp(now - 1 + r.gauss(0, 1.5)) for k in r.sample(INTERFERENCE, r.randint(4, 7))
            },
            "symptoms": {
                "tiredness": tired,
                "sleep_disturbance": clamp(now - 2 + r.gauss(0, 1.5)),
                "nausea": clamp(r.gauss(1, 1)),
                "vomiting": clamp(r.gauss(0.3, 0.6)),
                "appetite_loss": clamp(r.gauss(1.5, 1.2)),
                "anxiety": clamp(r.gauss(2, 1.5)),
                "depression": clamp(r.gauss(1.5, 1.5)),
                "drowsiness": clamp(r.gauss(1.5 + self.opioid, 1.2)),
                "confusion": clamp(r.gauss(0.3, 0.6)),
            },
        }
        if d in self.gi_days:
            item["symptoms"] |= {
                "nausea": r.randint(4, 7),
                "vomiting": r.randint(3, 6),
                "appetite_loss": r.randint(4, 8),
            }
        if self.kind == "neuropathic" and r.random() < 0.8:
            item["neuropathic"] = sorted(r.sample(NEUROPATHIC, r.randint(3, 4)))
        elif r.random() < 0.05:
            item["neuropathic"] = sorted(r.sample(NEUROPATHIC, r.randint(1, 2)))
        if r.random() < red_flag_rate:
            item["red_flags"] = [r.choice(RED_FLAGS)]
        if r.random() < 0.008:
            item["wants_fewer_medications"] = True
        if r.random() < 0.004:
            item["wants_procedure_discussion"] = True
        return item

    def medications(self, d: int, day: date, now: datetime) -> list[dict[str, Any]]:
        doses = []
        times = [datetime.combine(day, dtime(8, 0), ZONE)]
        if d > 0:
            times.insert(0, datetime.combine(day - timedelta(days=1), dtime(20, 0), ZONE))
        for taken in times:
            if self.opioid:
                doses.append(
                    {
                        "id": str(uuid.uuid4()),
                        "taken_at": taken.isoformat(),
                        "drug": "oxycodone",
                        "dose": 20 if self.base >= 4 else 10,
                        "unit": "mg",
                        "route": "oral",
                    }
                )
            if self.adjuvant:
                doses.append(
                    {
                        "id": str(uuid.uuid4()),
                        "taken_at": taken.isoformat(),
                        "drug": "pregabalin",
                        "dose": 75,
                        "unit": "mg",
                        "route": "oral",
                    }
                )
        if self.kind == "controlled" and not self.opioid and self.rng.random() < 0.3:
            doses.append(
                {
                    "id": str(uuid.uuid4()),
                    "taken_at": (now - timedelta(hours=2)).isoformat(),
                    "drug": "tramadol",
                    "dose": 50,
                    "unit": "mg",
                    "route": "oral",
                    "kind": "rescue",
                }
            )
        return doses

    def boluses(self, now: datetime) -> list[dict[str, Any]]:
        if self.kind != "pta_overuse":
            return []
        r = self.rng
        delivered = 6 if r.random() < 0.08 * self.pta_factor else r.randint(1, 5)
        heavy = r.random() < 0.06 * self.pta_factor
        denied = r.randint(delivered, delivered + 2) if heavy else r.choice((0, 0, 0, 1))
        out = []
        for i in range(delivered + denied):
            at = now - timedelta(minutes=20 + i * (1380 // (delivered + denied)))
            outcome = "delivered" if i < delivered else "denied_lockout"
            item = {
                "id": str(uuid.uuid4()),
                "occurred_at": at.isoformat(),
                "outcome": outcome,
                "source": "pump_log",
            }
            if outcome == "delivered":
                item |= {"dose": 0.05, "unit": "ml"}
            out.append(item)
        return out

    def adverse_effects(self, d: int, now: datetime) -> list[dict[str, Any]]:
        r = self.rng
        moment = (now - timedelta(minutes=7)).isoformat()
        effects = []
        if self.opioid and r.random() < (0.45 if self.kind == "persistent_opioid" else 0.15) * self.ae_factor:
            grade = r.choices((1, 2, 3), (55, 43, 2))[0]
            effects.append({"effect": "constipation", "grade": grade, "suspected_drug": "oxycodone"})
        if d in self.gi_days and r.random() < 0.6:
            effects.append({"effect": "nausea", "grade": r.choice((1, 2, 2))})
        if self.opioid and r.random() < 0.03 * self.ae_factor:
            effects.append({"effect": "sedation", "grade": 2, "limits_daily_activities": True})
        return [{"id": str(uuid.uuid4()), "recorded_at": moment, **e} for e in effects]


def seed(args: argparse.Namespace, rng: random.Random) -> tuple[list[Person], Any, Any]:
    team = CareTeam.objects.create(name="Bench alert-rate team")
    nurse = User.objects.create(username="bench-nurse", role=Role.CLINICIAN, email="nurse@bench.invalid")
    doctor = User.objects.create(username="bench-doctor", role=Role.CLINICIAN, email="doctor@bench.invalid")
    TeamMembership.objects.create(team=team, user=nurse, team_role=TeamRole.NURSE)
    TeamMembership.objects.create(team=team, user=doctor, team_role=TeamRole.PAIN_PHYSICIAN)
    days = args.weeks * 7
    kinds = list(TRAJECTORIES)
    counts = {k: int(args.patients * share) for k, share in TRAJECTORIES.items()}
    counts["controlled"] += args.patients - sum(counts.values())
    people = []
    enrolled = START - timedelta(days=30)
    for kind in kinds:
        for i in range(counts[kind]):
            person = Person.make(kind, random.Random(rng.random()), days)
            user = User.objects.create(username=f"{kind}-{i}", role=Role.PATIENT, timezone=str(ZONE))
            person.user = user
            person.patient = Patient.objects.create(
                user=user,
                care_team=team,
                display_name=f"{kind} {i}",
                timezone=str(ZONE),
                enrolled_on=enrolled,
                activated_at=datetime.combine(enrolled, dtime(10, 0), ZONE),
                baseline_mme=Decimal(60) if kind == "persistent_opioid" else None,
                cancer_survivor=kind == "survivor",
                limited_prognosis=kind == "deterioration" and i % 2 == 0,
                substance_use_history=rng.random() < 0.05,
                idds=kind == "pta_overuse",
                idds_lockout_minutes=10 if kind == "pta_overuse" else None,
                idds_max_daily_boluses=6 if kind == "pta_overuse" else None,
                idds_reservoir_ml=Decimal(20) if kind == "pta_overuse" else None,
                idds_next_refill_date=START + timedelta(days=rng.randint(3, 27))
                if kind == "pta_overuse"
                else None,
            )
            people.append(person)
    return people, nurse, doctor


# --- counting what the alerts app does -------------------------------------------------------------


class Tally:
    """Observes the evaluation write path (wraps, never changes) to count findings and
    what became of them."""

    def __init__(self):
        self.finding_days: set[tuple] = set()
        self.findings = Counter()  # evaluations with the rule met
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.evaluations = 0
        self.eval_seconds = 0.0

    def install(self, stack: list) -> None:
        """Patch alerts.actions.evaluation's steps (and its callers' name for
        evaluate_patient) with counting wrappers; the patchers go on `stack`."""
        originals = {
            name: getattr(evaluation, name)
            for name in ("apply_findings", "open_alert", "update_alert", "quiet_after_resolution")
        }
        original_evaluate = evaluation.evaluate_patient

        def apply_findings(*, patient, findings, now, **rest):
            today = now.astimezone(patient.zone).date()
            for code in findings:
                self.findings[code] += 1
                self.finding_days.add((patient.pk, today, code))
            return originals["apply_findings"](patient=patient, findings=findings, now=now, **rest)

        def open_alert(*, patient, finding, now):
            self.outcomes[finding.rule]["opened"] += 1
            return originals["open_alert"](patient=patient, finding=finding, now=now)

        def update_alert(*, alert, finding, now):
            raised = originals["update_alert"](alert=alert, finding=finding, now=now)
            # update_alert answers "raised"; it touches last_triggered_at only on new evidence.
            outcome = "raised" if raised else "updated" if alert.last_triggered_at == now else "unchanged"
            self.outcomes[finding.rule][f"dedup_{outcome}"] += 1
            return raised

        def quiet_after_resolution(resolved, finding, now):
            quiet = originals["quiet_after_resolution"](resolved, finding, now)
            if quiet:
                in_cooldown = now - resolved.resolved_at < evaluation.cooldown()
                self.outcomes[finding.rule]["cooldown" if in_cooldown else "no_new_evidence"] += 1
            return quiet

        def evaluate_patient(**kwargs):
            started = time.perf_counter()
            try:
                return original_evaluate(**kwargs)
            finally:
                self.evaluations += 1
                self.eval_seconds += time.perf_counter() - started

        wrappers = {
            (evaluation, "apply_findings"): apply_findings,
            (evaluation, "open_alert"): open_alert,
            (evaluation, "update_alert"): update_alert,
            (evaluation, "quiet_after_resolution"): quiet_after_resolution,
            # The worker's task and the beat reach it through these modules' names.
            (queue, "evaluate_patient"): evaluate_patient,
            (schedule, "evaluate_patient"): evaluate_patient,
        }
        for (owner, name), wrapper in wrappers.items():
            patcher = mock.patch.object(owner, name, wrapper)
            patcher.start()
            stack.append(patcher)


class Clock:
    def __init__(self):
        self.now = datetime.combine(START, dtime(0, 0), ZONE)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
        self.now = datetime.combine(day, dtime(hour, minute, second), ZONE)
        return self.now


# --- the simulation -------------------------------------------------------------------------------


def sync_mornings(args, people: list[Person], d: int, day: date, clock: Clock) -> tuple[set, Counter]:
    """09:00-10:00: each patient keeping the diary today syncs one batch, then the worker's
    task runs for them. Returns who synced and the answers."""
    synced, answers = set(), Counter()
    for i, person in enumerate(people):
        if d in person.missed:
            continue
        offset = i * 3600 // len(people)  # syncs spread over 09:00-10:00
        now = clock.at(day, 9, offset // 60, offset % 60)
        body = {
            "checkins": [person.checkin(d, now - timedelta(minutes=5), args.red_flag_rate)],
            "medications": person.medications(d, day, now),
            "boluses": person.boluses(now),
            "adverse_effects": person.adverse_effects(d, now),
        }
        answers.update(r["status"] for r in sync_batch(user=person.user, body=body))
        synced.add(person.patient.pk)
        # What alerts.tasks.evaluate_patient does on the worker.
        queue.evaluate_and_clear(patient_id=person.patient.pk)
    return synced, answers


def team_noon(own: list, person_of: dict, resolve_after: dict, d: int, nurse, doctor, now) -> Counter:
    """12:00: the nurse acknowledges what is open and resolves what has been handled (the
    action works six times in ten); referrals move on. Returns the rules acted on."""
    treated: Counter = Counter()
    for alert in Alert.objects.filter(patient_id__in=own).unresolved().order_by("created_at", "rule"):
        if alert.status == Alert.Status.OPEN:
            alert = acknowledge_alert(alert=alert, by=nurse)
        if (now - alert.created_at).days >= resolve_after[alert.severity]:
            resolve_alert(alert=alert, by=nurse, resolution="reviewed, plan adjusted")
            person_of[alert.patient_id].treat(alert.rule, d)
            treated[alert.rule] += 1
    status = ReferralRecommendation.Status
    for referral in ReferralRecommendation.objects.filter(
        patient_id__in=own, status__in=ReferralRecommendation.OPEN
    ):
        age = (now - referral.created_at).days
        if referral.status == status.SUGGESTED and age >= 2:
            move_referral(referral=referral, to=status.ACCEPTED, by=doctor)
        elif referral.status == status.ACCEPTED and age >= 12:
            move_referral(referral=referral, to=status.COMPLETED, by=doctor)
    return treated


def refill_pumps(people: list[Person], day: date) -> None:
    """Pumps refilled on their date: the next refill in four weeks."""
    for person in people:
        p = person.patient
        if p.idds and p.idds_next_refill_date and p.idds_next_refill_date <= day:
            update_patient(
                patient=p, data={"idds_next_refill_date": p.idds_next_refill_date + timedelta(days=28)}
            )


def simulate(args, people: list[Person], nurse, doctor, clock: Clock, tally: Tally, *, show: bool) -> dict:
    """Run the days for these patients. Evaluations run as the worker runs them: the sync's
    commit announcement writes the EvaluationRequest and enqueues the task (to Redis db 15,
    where nobody consumes it), then this process does what the task does."""
    resolve_after = {k: int(v) for k, v in (p.split("=") for p in args.resolve_days.split(","))}
    days = args.weeks * 7
    own = [p.patient.pk for p in people]
    person_of = {p.patient.pk: p for p in people}
    progress = benchlib.Progress("simulated days", days) if show else None
    syncs, answers, treated = 0, Counter(), Counter()
    for d in range(days):
        day = START + timedelta(days=d)
        synced, day_answers = sync_mornings(args, people, d, day, clock)
        syncs += len(synced)
        answers.update(day_answers)
        treated.update(team_noon(own, person_of, resolve_after, d, nurse, doctor, clock.at(day, 12)))
        refill_pumps(people, day)
        # 21:00: the hourly beat's scheduled rules, for those not evaluated after a sync today.
        clock.at(day, 21)
        schedule.evaluate_scheduled([p.patient.pk for p in people if p.patient.pk not in synced])
        if progress:
            progress.update(d + 1, f"{syncs:,} syncs, {tally.evaluations:,} evaluations (this process)")
    if progress:
        progress.finish()
    return {
        "syncs": syncs,
        "answers": answers,
        "treated": treated,
        "finding_days": tally.finding_days,
        "findings": tally.findings,
        "outcomes": {k: Counter(v) for k, v in tally.outcomes.items()},
        "evaluations": tally.evaluations,
        "eval_seconds": tally.eval_seconds,
    }


# The cohort, set before forking; each worker process simulates people[index::workers].
_COHORT: dict[str, Any] = {}


def run_partition(index: int) -> dict:
    args, people = _COHORT["args"], _COHORT["people"]
    clock, tally = Clock(), Tally()
    patches = [mock.patch("django.utils.timezone.now", clock)]
    patches[0].start()
    tally.install(patches)
    try:
        return simulate(
            args,
            people[index :: args.workers],
            _COHORT["nurse"],
            _COHORT["doctor"],
            clock,
            tally,
            show=index == 0,
        )
    finally:
        for patcher in reversed(patches):
            patcher.stop()
        benchlib.close_django_connections()


def merge(parts: list[dict]) -> dict:
    merged: dict[str, Any] = {
        "syncs": 0,
        "answers": Counter(),
        "treated": Counter(),
        "finding_days": set(),
        "findings": Counter(),
        "outcomes": defaultdict(Counter),
        "evaluations": 0,
        "eval_seconds": 0.0,
    }
    for part in parts:
        merged["syncs"] += part["syncs"]
        merged["answers"].update(part["answers"])
        merged["treated"].update(part["treated"])
        merged["finding_days"] |= part["finding_days"]
        merged["findings"].update(part["findings"])
        for rule, counts in part["outcomes"].items():
            merged["outcomes"][rule].update(counts)
        merged["evaluations"] += part["evaluations"]
        merged["eval_seconds"] += part["eval_seconds"]
    return merged


RULE_HEADER = [
    "rule",
    "severity",
    "finding-days",
    "opened",
    "raised",
    "deduped",
    "cooldown",
    "no new evid.",
    "alerts/pt-week",
    "suppressed",
]


def deduped(outcomes: Counter) -> int:
    return outcomes["dedup_updated"] + outcomes["dedup_unchanged"] + outcomes["dedup_raised"]


def rule_table(sim: dict[str, Any], alerts: list[tuple], patient_weeks: int) -> list[list]:
    """Per rule of the registry, then all rules: finding-days, what became of them, and
    the alerts per patient-week."""
    raised = Counter(
        AlertEvent.objects.filter(kind=AlertEvent.Kind.SEVERITY_RAISED).values_list("alert__rule", flat=True)
    )
    opened = Counter(rule for _, rule, _, _ in alerts)
    finding_days = Counter(code for _, _, code in sim["finding_days"])
    outcomes = sim["outcomes"]

    def row(label, severity, fd, n_opened, n_raised, n_deduped, cooldown, no_new) -> list:
        suppressed = f"{1 - n_opened / fd:.0%}" if fd else "-"
        per_week = f"{n_opened / patient_weeks:.3f}"
        return [label, severity, fd, n_opened, n_raised, n_deduped, cooldown, no_new, per_week, suppressed]

    table_rows = [
        row(
            code,
            RULES[code].severity,
            finding_days[code],
            opened[code],
            raised[code],
            deduped(outcomes[code]),
            outcomes[code]["cooldown"],
            outcomes[code]["no_new_evidence"],
        )
        for code in RULES
    ]
    table_rows.append(
        row(
            "all rules",
            "",
            sum(finding_days.values()),
            len(alerts),
            sum(raised.values()),
            sum(deduped(o) for o in outcomes.values()),
            sum(o["cooldown"] for o in outcomes.values()),
            sum(o["no_new_evidence"] for o in outcomes.values()),
        )
    )
    return table_rows


def trajectory_table(people: list[Person], alerts: list[tuple], weeks_any: set, weeks: int) -> list[list]:
    """Per trajectory: alerts and paging alerts per patient-week, weeks with an alert."""
    kind_of = {p.patient.pk: p.kind for p in people}
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for pid, _, severity, _ in alerts:
        by_kind[kind_of[pid]]["all"] += 1
        by_kind[kind_of[pid]]["paged"] += severity != "info"
    population = Counter(p.kind for p in people)
    weeks_by_kind = defaultdict(set)
    for pid, w in weeks_any:
        weeks_by_kind[kind_of[pid]].add((pid, w))
    return [
        [
            kind,
            population[kind],
            f"{by_kind[kind]['all'] / (population[kind] * weeks):.2f}",
            f"{by_kind[kind]['paged'] / (population[kind] * weeks):.2f}",
            f"{len(weeks_by_kind[kind]) / (population[kind] * weeks):.0%}",
        ]
        for kind in TRAJECTORIES
        if population[kind]
    ]


def print_cohort(args, people: list[Person], sim: dict[str, Any], elapsed: float) -> None:
    print()
    print(
        f"cohort: {len(people)} patients x {args.weeks} weeks = {len(people) * args.weeks} patient-weeks; "
        f"{sim['syncs']:,} syncs ({dict(sim['answers'])}), {sim['evaluations']:,} evaluations; "
        f"simulated in {elapsed:.0f} s"
    )
    if sim["evaluations"]:
        print(f"  mean evaluate_patient: {sim['eval_seconds'] / sim['evaluations'] * 1000:.1f} ms")
    print(f"  alerts resolved and acted on, by rule: {dict(sim['treated'])}")
    print(
        f"  team policy: resolve after {args.resolve_days} days; cooldown {cooldown_hours()} h after resolution"
    )


def report(args, people: list[Person], sim: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Print the alert burden by rule and by trajectory; returns the RESULT figures."""
    patient_weeks = len(people) * args.weeks

    def week(moment: datetime) -> int:
        return (moment.astimezone(ZONE).date() - START).days // 7

    alerts = list(Alert.objects.values_list("patient_id", "rule", "severity", "created_at"))
    paging = [a for a in alerts if a[2] != "info"]
    weeks_any = {(pid, week(at)) for pid, _, _, at in alerts}
    share_any = len(weeks_any) / patient_weeks
    share_paged = len({(pid, week(at)) for pid, _, _, at in paging}) / patient_weeks
    by_rule = rule_table(sim, alerts, patient_weeks)

    print_cohort(args, people, sim, elapsed)
    print()
    print(benchlib.table(by_rule, RULE_HEADER))
    print("  finding-days: patient-days on which the rule was met at least once; deduped, cooldown and")
    print("  'no new evid.' count evaluations; suppressed = 1 - opened / finding-days")
    print()
    print(
        f"alerts per patient-week: {len(alerts) / patient_weeks:.3f} "
        f"(urgent+warning: {len(paging) / patient_weeks:.3f})"
    )
    print(
        f"patient-weeks with at least one alert: {share_any:.1%} (urgent or warning: {share_paged:.1%}); "
        f"PRO-TECT: {PRO_TECT_SHARE:.0%} of weekly surveys; ratio {share_any / PRO_TECT_SHARE:.2f}"
    )
    print(f"referral recommendations created: {ReferralRecommendation.objects.count()}")
    print(f"outbox rows: {dict(Counter(Notification.objects.values_list('kind', 'channel')))}")
    print()
    print(
        benchlib.table(
            trajectory_table(people, alerts, weeks_any, args.weeks),
            ["trajectory", "patients", "alerts/pt-week", "urgent+warning", "weeks with alert"],
        )
    )
    return {
        "alerts_per_patient_week": round(len(alerts) / patient_weeks, 4),
        "paged_per_patient_week": round(len(paging) / patient_weeks, 4),
        "share_weeks_any": round(share_any, 4),
        "share_weeks_paged": round(share_paged, 4),
        "finding_days": by_rule[-1][2],
        "opened": len(alerts),
        "by_rule": {r[0]: r[3] for r in by_rule[:-1]},
    }


def cooldown_hours() -> int:
    return settings.ALERT_COOLDOWN_HOURS


def run_cohort(args, people: list[Person], nurse, doctor) -> list[dict]:
    """The simulation in args.workers processes (forked: the cohort is shared)."""
    _COHORT.update(args=args, people=people, nurse=nurse, doctor=doctor)
    benchlib.close_django_connections()
    if args.workers == 1:
        return [run_partition(0)]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        return pool.map(run_partition, range(args.workers))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sqlite = benchlib.is_sqlite(DATABASE)
    if sqlite:
        args.workers = 1  # one writer at a time
    benchlib.print_header(
        "bench/alert_rate: alert burden of a simulated cohort",
        {
            "patients": args.patients,
            "weeks": args.weeks,
            "database": "SQLite" if sqlite else "PostgreSQL",
            "processes": args.workers,
            "seed": args.seed,
            "tasks": "enqueued to Redis db 15; evaluations run here as the worker runs them",
        },
    )
    benchlib.fresh_database(DATABASE)
    people, nurse, doctor = seed(args, random.Random(args.seed))
    benchlib.step(f"simulating {args.weeks} weeks of {len(people)} patients in {args.workers} process(es)")
    started = time.perf_counter()
    sim = merge(run_cohort(args, people, nurse, doctor))
    elapsed = time.perf_counter() - started
    summary = report(args, people, sim, elapsed)
    all_created = set(sim["answers"]) == {"created"}
    print(f"every synced item created: {'yes' if all_created else 'NO: ' + str(dict(sim['answers']))}")
    benchlib.print_result_line(
        "alert_rate",
        mode="sqlite" if sqlite else "pg",
        size={"patients": args.patients, "weeks": args.weeks},
        seconds=round(elapsed),
        baseline_share_weeks_any=PRO_TECT_SHARE,
        ratio=round(summary["share_weeks_any"] / PRO_TECT_SHARE, 4),
        all_created=all_created,
        **summary,
    )
    benchlib.finish(DATABASE, keep=args.keep_db)
    return 0 if all_created else 1


if __name__ == "__main__":
    sys.exit(main())
