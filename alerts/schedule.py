"""What runs on the clock (Celery beat) and the durable queue of evaluations."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from alerts import services
from alerts.models import (
    Alert,
    EscalationPolicy,
    EvaluationRequest,
    Notification,
    default_tiers,
    is_digest_hour,
)
from alerts.rules import SCHEDULED_RULES, default_params
from care.models import CareTeam, Patient, Role
from diary.models import CheckIn

logger = logging.getLogger(__name__)

# A request older than this was not picked up by its task (broker down, task lost).
EVALUATION_GRACE = timedelta(seconds=30)
# When a patient with no reminder time of their own hears about a missed diary.
DEFAULT_REMINDER_TIME = time(18, 0)


def note_evaluation(patient_ids) -> None:
    """Record that these patients need evaluating (an upsert: the latest time wins)."""
    now = timezone.now()
    EvaluationRequest.objects.bulk_create(
        [EvaluationRequest(patient_id=pk, requested_at=now) for pk in patient_ids],
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=["requested_at"],
    )


def request_evaluation(patient_ids) -> None:
    """After the diary's commit: note the request again, with a time after the commit (an
    evaluation that started before it must not clear it), then ask a worker."""
    from alerts.tasks import enqueue, evaluate_patient

    note_evaluation(patient_ids)
    for pk in patient_ids:
        enqueue(evaluate_patient, str(pk))


def evaluation_done(*, patient_id, started: datetime) -> None:
    # A change that arrived while we evaluated keeps its request for the next run.
    EvaluationRequest.objects.filter(patient_id=patient_id, requested_at__lte=started).delete()


def evaluate_pending(now: datetime | None = None) -> int:
    now = now or timezone.now()
    pending = list(
        EvaluationRequest.objects.filter(requested_at__lte=now - EVALUATION_GRACE).values_list(
            "patient_id", flat=True
        )[:500]
    )
    for patient_id in pending:
        started = timezone.now()
        services.evaluate_patient(patient_id=patient_id)
        evaluation_done(patient_id=patient_id, started=started)
    return len(pending)


def escalate_due_alerts(now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = list(
        Alert.objects.filter(status=Alert.Status.OPEN, escalation_due_at__lte=now).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in due:
        services.escalate_alert(alert_id=pk, now=now)
    return len(due)


# Patients per task of the hourly run: each chunk finishes well within the time limit.
SCHEDULED_CHUNK = 200


def evaluate_time_rules() -> int:
    """Rules whose window closes with time (missed diary, pump refill) need no new record.
    The cohort is split into chunks, one task each, so a large one never hits a time limit."""
    from alerts.tasks import enqueue, evaluate_scheduled_chunk

    patients = list(
        Patient.objects.filter(activated_at__isnull=False, withdrawn_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(patients), SCHEDULED_CHUNK):
        chunk = [str(pk) for pk in patients[start : start + SCHEDULED_CHUNK]]
        enqueue(evaluate_scheduled_chunk, chunk, skip_when_broker_down=False)
    return len(patients)


def evaluate_scheduled(patient_ids: list[str]) -> None:
    for patient_id in patient_ids:
        services.evaluate_patient(patient_id=patient_id, only=SCHEDULED_RULES)


@transaction.atomic
def send_daily_digests(now: datetime | None = None) -> int:
    """Info alerts are not paged: each team's first tier gets them once a day, at the
    team's digest hour (EscalationPolicy.digest_hour on its digest_timezone)."""
    now = now or timezone.now()
    sent = 0
    pending = Alert.objects.filter(status=Alert.Status.OPEN, severity="info", digested_at__isnull=True)
    for team in CareTeam.objects.filter(patients__alerts__in=pending).distinct():
        alert_ids = list(pending.filter(patient__care_team=team).values_list("pk", flat=True))
        policy = EscalationPolicy.objects.filter(team=team).first()
        if not (policy.is_digest_hour(now) if policy else is_digest_hour(now)):
            continue  # beat runs this hourly: each team at the hour of its own clock
        tiers = policy.tiers if policy else default_tiers()
        rows = []
        for user in services.tier_recipients(team.pk, tiers[0]):
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
        Alert.objects.filter(pk__in=alert_ids).update(digested_at=now)
        services.enqueue_deliveries([row.pk for row in rows])
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
        # As the missed_diary rule: from the later of the last check-in and the activation.
        activated = patient.activated_at.astimezone(patient.zone).date() if patient.activated_at else None
        known = [d for d in (last, activated) if d is not None]
        missed = (local.date() - max(known)).days if known else None
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
    services.enqueue_deliveries([row.pk for row in rows])
    return len(rows)
