"""Demo data: a care team, its clinicians, the review's Clinical Box 1 patient and others."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from care import services
from care.models import CaregiverLink, Patient, Role, TeamRole, User

PASSWORD = "crossroad-demo"  # noqa: S105 - demo logins, printed on purpose
TEAM = "Pain Unit — Demo Hospital"

PATIENTS = [
    {
        "username": "rosa",
        # Clinical Box 1: 50-year-old woman, advanced pancreatic cancer, systemic opioids
        # escalated to 300 mg/day MME, later an intrathecal catheter (ziconotide,
        # levobupivacaine, morphine).
        "display_name": "Rosa (Clinical Box 1)",
        "timezone": "Europe/Rome",
        "language": "it",
        "diagnosis": "Advanced pancreatic cancer",
        "baseline_mme": 300,
        "idds": True,
        "idds_lockout_minutes": 60,
        "idds_max_daily_boluses": 4,
        "idds_reservoir_ml": 20,
        "idds_next_refill_date_days": 21,
        "caregiver": ("marco", "spouse"),
    },
    {
        "username": "alan",
        "display_name": "Alan (controlled pain)",
        "timezone": "Europe/London",
        "language": "en",
        "diagnosis": "Prostate cancer with bone metastases",
        "baseline_mme": 60,
    },
    {
        "username": "grace",
        "display_name": "Grace (cancer survivor)",
        "timezone": "America/New_York",
        "language": "en",
        "diagnosis": "Breast cancer, in remission; post-mastectomy pain",
        "cancer_survivor": True,
    },
]


class Command(BaseCommand):
    help = "Load the demo care team, clinicians and patients (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        clinician = services.create_clinician(
            username="dr-demo", password=PASSWORD, team_name=TEAM, team_role=TeamRole.PAIN_PHYSICIAN
        )
        services.create_clinician(
            username="nurse-demo", password=PASSWORD, team_name=TEAM, team_role=TeamRole.NURSE
        )
        services.create_clinician(
            username="admin-demo", password=PASSWORD, team_name=TEAM, team_role=TeamRole.TEAM_ADMIN
        )
        team = clinician.memberships.get().team
        for spec in PATIENTS:
            self.seed_patient(team, dict(spec))
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(
            f"Logins (password “{PASSWORD}”): clinicians dr-demo, nurse-demo, admin-demo (team admin); "
            "patients rosa, alan, grace; caregiver marco (for rosa)."
        )

    def seed_patient(self, team, spec: dict) -> Patient:
        username = spec.pop("username")
        caregiver = spec.pop("caregiver", None)
        refill_days = spec.pop("idds_next_refill_date_days", None)
        user, _ = User.objects.get_or_create(
            username=username, defaults={"role": Role.PATIENT, "language": spec["language"]}
        )
        user.timezone = spec["timezone"]
        user.set_password(PASSWORD)
        user.save()
        today = timezone.now().date()
        defaults = {**spec, "care_team": team, "enrolled_on": today - timedelta(days=30)}
        if refill_days is not None:
            defaults["idds_next_refill_date"] = today + timedelta(days=refill_days)
        patient, _ = Patient.objects.update_or_create(user=user, defaults=defaults)
        if patient.activated_at is None:
            patient.activated_at = timezone.now()
            patient.save(update_fields=["activated_at"])
        if caregiver:
            name, relationship = caregiver
            carer, _ = User.objects.get_or_create(username=name, defaults={"role": Role.CAREGIVER})
            carer.set_password(PASSWORD)
            carer.save()
            CaregiverLink.objects.get_or_create(
                patient=patient,
                caregiver=carer,
                revoked_at=None,
                defaults={"relationship": relationship},
            )
        return patient
