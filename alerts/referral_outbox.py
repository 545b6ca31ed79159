"""Who hears of a referral recommendation created or changed, inside the write path's
transaction: listeners registered by apps that alerts may not import (interop writes the
FHIR rest-hook outbox row of the team's endpoint). Called once by each referral write
path (`update_referral`, `move_referral`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from alerts.models import ReferralRecommendation

ReferralListener = Callable[..., None]
_listeners: list[ReferralListener] = []


def register_referral_listener(listener: ReferralListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def referral_changed(*, referral: ReferralRecommendation, now: datetime) -> None:
    for listener in _listeners:
        listener(referral=referral, now=now)
