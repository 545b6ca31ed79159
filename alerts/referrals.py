from __future__ import annotations

from alerts.models import ReferralRecommendation
from care.models import Patient


def box2_criteria_met(patient: Patient) -> list[int]:
    """The Box 2 criteria of the patient's open referral recommendation."""
    referral = (
        ReferralRecommendation.objects.filter(patient=patient, status__in=ReferralRecommendation.OPEN)
        .only("criteria")
        .first()
    )
    return referral.criteria_numbers if referral else []
