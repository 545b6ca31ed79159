"""A patient withdrew consent: nothing of theirs stays open in the pain team's queue."""

from __future__ import annotations

from django.utils import timezone

from alerts.actions.lifecycle import close_alert
from alerts.models import Alert, ReferralRecommendation
from alerts.referral_outbox import referral_changed
from alerts.status import refresh_patient_status
from care.models import Patient, User

WITHDRAWN_RESOLUTION = "Consent withdrawn by the patient."


def withdraw_patient(*, patient: Patient, by: User, delete: bool) -> None:
    """In the caller's transaction, after care has pseudonymized the patient: alerts are
    resolved and open referrals (suggested or accepted) declined with the reason, or all
    of it deleted; the triage row is rebuilt from what is left."""
    if delete:
        Alert.objects.filter(patient=patient).delete()
        ReferralRecommendation.objects.filter(patient=patient).delete()
    else:
        for alert in Alert.objects.filter(patient=patient).unresolved().select_for_update():
            close_alert(alert=alert, by=by, resolution=WITHDRAWN_RESOLUTION)
        for referral in ReferralRecommendation.objects.filter(
            patient=patient, status__in=ReferralRecommendation.OPEN
        ).select_for_update():
            referral.withdraw(reason=WITHDRAWN_RESOLUTION, at=timezone.now())
            referral.save(update_fields=["status", "decline_reason", "updated_at"])
            referral_changed(referral=referral, now=referral.updated_at)
    refresh_patient_status(patient)
