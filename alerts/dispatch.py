"""Handing work to the broker: the one place that publishes tasks.

A leaf module: it names tasks by their registered names and imports no other module of
this app, so every write path can ask for work without an import circle. The work itself
is always a row in the database first (an EvaluationRequest, a Notification), so a
publish that fails loses nothing: a beat sweeper picks the row up.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

EVALUATE_PATIENT = "alerts.tasks.evaluate_patient"
DELIVER_NOTIFICATION = "alerts.tasks.deliver_notification"
EVALUATE_SCHEDULED_CHUNK = "alerts.tasks.evaluate_scheduled_chunk"

# The queue a worker empties first: a red flag's evaluation and an urgent alert's
# notifications, so that they never wait behind routine evaluations, deliveries or the
# hourly run. The Redis transport takes from queues in sorted order (settings), and this
# name sorts before "celery" and "clock".
URGENT_QUEUE = "alerts-urgent"

# After a failed publish, requests stop trying the broker for a few seconds: each attempt
# costs a connection timeout, and a patient's post must not wait for Redis to come back.
BROKER_RETRY_AFTER_SECONDS = 5.0


class _Breaker:
    """Per process, on purpose: a cheap circuit breaker in front of the broker."""

    down_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self.down_until

    def trip(self) -> None:
        self.down_until = time.monotonic() + BROKER_RETRY_AFTER_SECONDS

    def reset(self) -> None:
        self.down_until = 0.0


breaker = _Breaker()


# What this process could not send while the broker was down, sent again by its first
# publish that succeeds once the broker is back, well before a sweeper's grace has passed.
# Bounded (the oldest are dropped first); the sweepers still find whatever is dropped, or
# was left by a process that died.
UNSENT_KEPT = 10_000
_unsent: deque[tuple[str, tuple, bool]] = deque(maxlen=UNSENT_KEPT)


def enqueue(task_name: str, *args, skip_when_broker_down: bool = True, urgent: bool = False) -> bool:
    """Send a task now (on the urgent queue if asked); when the broker is down, say so,
    keep it to send once the broker is back, and let a sweeper catch up meanwhile."""
    if (skip_when_broker_down and breaker.is_open()) or not _publish(task_name, args, urgent):
        _unsent.append((task_name, args, urgent))
        return False
    while _unsent:
        task = _unsent.popleft()
        if not _publish(*task):
            _unsent.appendleft(task)
            break
    return True


def _publish(task_name: str, args: tuple, urgent: bool) -> bool:
    options = {"queue": URGENT_QUEUE} if urgent else {}
    try:
        current_app.tasks[task_name].apply_async(args=args, retry=False, **options)
    except Exception:  # kombu raises several kinds; the database keeps the work
        breaker.trip()
        logger.warning("broker unavailable: %s left for the sweeper", task_name)
        return False
    return True


# With this many messages waiting on the default queue, the workers are behind: the
# sweepers, which send again what looks lost, wait (what looks lost is mostly queued).
BEHIND_AT = 100


def workers_behind() -> bool:
    waiting = queue_length()
    return waiting is not None and waiting >= BEHIND_AT


def queue_length(queue: str | None = None) -> int | None:
    """Messages waiting in one of the broker's queues (the default one unless named), or
    None when the broker cannot say (it is down). A declare, not a passive one: an empty
    Redis queue has no key at all."""
    queue = queue or current_app.conf.task_default_queue
    try:
        with current_app.connection_for_read() as connection:
            return connection.default_channel.queue_declare(queue=queue, passive=False).message_count
    except Exception:  # kombu raises several kinds; the caller decides without the count
        return None


def enqueue_deliveries(ids: Iterable[uuid.UUID], *, urgent: bool = False) -> None:
    """After commit, one delivery task per outbox row. A row that lost to an existing key
    was never inserted, and its task finds nothing to do."""
    for pk in ids:
        transaction.on_commit(lambda pk=pk: enqueue(DELIVER_NOTIFICATION, str(pk), urgent=urgent))
