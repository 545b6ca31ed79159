"""What runs on the clock (Celery beat): the hourly rules whose windows close with time,
the daily digest of info alerts, and the patients' diary reminders."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from alerts import dispatch, engine
from alerts.actions.escalation import tier_recipients
from alerts.actions.evaluation import evaluate_patient
from alerts.models import Alert, ClockChunk, ClockRun, EscalationPolicy, Notification
from alerts.rules import SCHEDULED_RULES, default_params
from care.models import CareTeam, Patient, Role
from diary.days import missed_days
from diary.models import CheckIn

logger = logging.getLogger(__name__)

# When a patient with no reminder time of their own hears about a missed diary.
DEFAULT_REMINDER_TIME = time(18, 0)


# Patients per task of the hourly run: each chunk finishes well within the time limit.
SCHEDULED_CHUNK = 200
# A chunk sent this long ago and not done was lost or failed: the next tick sends it again.
CHUNK_RESEND_AFTER = timedelta(minutes=5)
# Claimed periods (and the hourly run's chunks) kept this long, then deleted: long enough
# to see what ran last week, and no period that old is ever claimed again.
CLOCK_RUNS_KEPT = timedelta(days=7)


def evaluate_time_rules(now: datetime | None = None) -> int:
    """Rules whose window closes with time (missed diary, pump refill) need no new record.

    Once an hour, durably: beat ticks every few minutes; the first tick of the hour claims
    it (ClockRun) and writes its chunks (ClockChunk, 200 patients each, one task each, on
    the clock queue so that red flags never wait behind them); every tick sends again the
    chunks of the hour not done a while after they were sent (lost with a broker restart,
    failed with a database restart), or never sent (the broker was down). Two beats run
    the hour once. Returns the patients handed out by this tick."""
    now = now or timezone.now()
    run, claimed = ClockRun.objects.get_or_create(
        job="scheduled-rules", period=now.replace(minute=0, second=0, microsecond=0)
    )
    if claimed:
        ClockRun.objects.filter(period__lt=run.period - CLOCK_RUNS_KEPT).delete()  # their chunks too
        patients = [
            str(pk)
            for pk in Patient.objects.filter(activated_at__isnull=False, withdrawn_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        ]
        ClockChunk.objects.bulk_create(
            ClockChunk(run=run, patient_ids=patients[start : start + SCHEDULED_CHUNK])
            for start in range(0, len(patients), SCHEDULED_CHUNK)
        )
    stale = now - CHUNK_RESEND_AFTER
    due = run.chunks.filter(done_at__isnull=True).filter(Q(sent_at__isnull=True) | Q(sent_at__lt=stale))
    handed = 0
    for chunk in due.only("pk", "patient_ids", "sent_at"):
        # Compare and set: of two beats ticking at once, one sends each chunk.
        if not ClockChunk.objects.filter(pk=chunk.pk, sent_at=chunk.sent_at).update(sent_at=now):
            continue
        if not dispatch.enqueue(dispatch.EVALUATE_SCHEDULED_CHUNK, chunk.pk, skip_when_broker_down=False):
            ClockChunk.objects.filter(pk=chunk.pk).update(sent_at=chunk.sent_at)  # not sent after all
            logger.warning("hourly rules: the broker is down; the next tick sends the rest")
            break
        handed += len(chunk.patient_ids)
    return handed


def evaluate_chunk(chunk_id: int) -> int:
    """One chunk of the hourly run, at most once to completion (a re-sent copy finds it done)."""
    chunk = ClockChunk.objects.filter(pk=chunk_id, done_at__isnull=True).first()
    if chunk is None:
        return 0
    written = evaluate_scheduled(chunk.patient_ids)
    ClockChunk.objects.filter(pk=chunk_id).update(done_at=timezone.now())
    return written


def evaluate_scheduled(patient_ids: list[str]) -> int:
    """The hourly run for one chunk, light: the clock's rules run in memory on a light
    snapshot (engine.load_light, a few queries for the whole chunk); only a patient for
    whom one of them finds something that no unresolved alert holds yet goes through the
    full write path (patient lock, cooldown, alert, triage row). Returns how many did."""
    patients = list(Patient.objects.filter(pk__in=patient_ids, withdrawn_at__isnull=True))
    snapshots = engine.load_light(patients)
    settings = engine.settings_of(patients)
    held = set(
        Alert.objects.filter(patient__in=patients, rule__in=SCHEDULED_RULES)
        .unresolved()
        .values_list("patient_id", "rule")
    )
    written = 0
    for patient in patients:
        verdicts = engine.run(settings[patient.pk], snapshots[patient.pk], only=SCHEDULED_RULES)
        if any(found and (patient.pk, code) not in held for code, found in verdicts.items()):
            evaluate_patient(patient_id=patient.pk, only=SCHEDULED_RULES)
            written += 1
    return written


@transaction.atomic
def send_daily_digests(now: datetime | None = None) -> int:
    """Info alerts are not paged: each team's first tier gets them once a day, at the
    team's digest hour (EscalationPolicy.digest_hour on its digest_timezone)."""
    now = now or timezone.now()
    sent = 0
    pending = Alert.objects.awaiting_digest()
    for team in CareTeam.objects.filter(patients__alerts__in=pending).distinct():
        alert_ids = list(pending.filter(patient__care_team=team).values_list("pk", flat=True))
        policy = EscalationPolicy.of_team(team.pk)
        if not policy.is_digest_hour(now):
            continue  # beat runs this hourly: each team at the hour of its own clock
        rows = []
        for user in tier_recipients(team.pk, policy.tiers[0]):
            if user.email:
                rows.append(
                    Notification(
                        # Keyed by its content: a second run the same day (beat restarted)
                        # still carries the alerts raised since, and a retry dedups.
                        key=f"digest:{team.pk}:{digest_id(alert_ids)}:{user.pk}",
                        kind=Notification.Kind.DIGEST,
                        channel="email",
                        recipient=user,
                        payload={"alerts": [str(pk) for pk in alert_ids]},
                    )
                )
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        Alert.objects.filter(pk__in=alert_ids).mark_digested(now)
        dispatch.enqueue_deliveries([row.pk for row in rows])
        sent += len(rows)
    return sent


def digest_id(alert_ids) -> str:
    return hashlib.sha256(",".join(sorted(str(pk) for pk in alert_ids)).encode()).hexdigest()[:16]


def in_quiet_hours(moment: time, start: time | None, end: time | None) -> bool:
    if start is None or end is None:
        return False
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # quiet hours across midnight


def send_reminders(now: datetime | None = None) -> int:
    """A push at the patient's local reminder time when today has no check-in yet, and a
    nudge after missed days; never in quiet hours, at most one a day (the key is per day)."""
    now = now or timezone.now()
    last_checkin = CheckIn.objects.filter(patient=OuterRef("pk"), status="active").order_by("-local_date")
    patients = (
        Patient.objects.filter(user__isnull=False, user__is_active=True, user__role=Role.PATIENT)
        .select_related("user")
        .prefetch_related("user__devices")
        .annotate(last_checkin=Subquery(last_checkin.values("local_date")[:1]))
    )
    nudge_after = default_params("missed_diary")["reminder_days"]
    rows = []
    for patient in patients:
        user = patient.user
        local = now.astimezone(patient.zone)
        if not user.devices.all() or local.time() < (user.reminder_time or DEFAULT_REMINDER_TIME):
            continue
        if in_quiet_hours(local.time(), user.quiet_hours_start, user.quiet_hours_end):
            continue
        last = patient.last_checkin
        missed = missed_days(local.date(), last, patient.activated_on)
        wants_daily = user.reminder_time is not None and last != local.date()
        if wants_daily or (missed is not None and missed >= nudge_after):
            rows.append(
                Notification(
                    key=f"reminder:{patient.pk}:{local.date()}",
                    kind=Notification.Kind.REMINDER,
                    channel="push",
                    recipient=user,
                    payload={"missed_days": missed},
                )
            )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    dispatch.enqueue_deliveries([row.pk for row in rows])
    return len(rows)
