"""Demo data: a care team, its clinicians, the review's Clinical Box 1 patient and others,
with a few weeks of diary each, evaluated by the alert rules (idempotent: record ids are
derived from the patient and the day, so a second run changes nothing)."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from alerts.actions.evaluation import evaluate_patient
from care import services, twofactor
from care.models import CaregiverLink, Patient, Role, TeamRole, User
from diary.services import build_record, store_records

PASSWORD = "crossroad-demo"  # noqa: S105 - demo logins, printed on purpose
# The demo clinicians' authenticator key (base32), documented in the README on purpose:
# a newcomer can try the clinic's second step. Set only when DEBUG is on.
DEMO_TOTP_SECRET = "CROSSROADDEMOKEYFORTOTP234567ABC"  # noqa: S105
DEMO_TOTP_USERS = ("dr-demo", "nurse-demo")


def demo_totp_key_hex() -> str:
    return base64.b32decode(DEMO_TOTP_SECRET).hex()


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
        # Pain climbing despite 300 mg/day MME, neuropathic descriptors, PTA at the daily max.
        "diary": {
            "pain": [4, 4, 5, 4, 5, 5, 6, 6, 7, 7],
            "neuropathic": ["burning", "electric_shocks", "tingling"],
        },
    },
    {
        "username": "alan",
        "display_name": "Alan (controlled pain)",
        "timezone": "Europe/London",
        "language": "en",
        "diagnosis": "Prostate cancer with bone metastases",
        "baseline_mme": 60,
        "diary": {"pain": [2, 3, 2, 2, 3, 2, 2, 3, 2, 2]},
    },
    {
        "username": "grace",
        "display_name": "Grace (cancer survivor)",
        "timezone": "America/New_York",
        "language": "en",
        "diagnosis": "Breast cancer, in remission; post-mastectomy pain",
        "cancer_survivor": True,
        "diary": {"pain": [4, 5, 3, 4, 4, 5, 4, 3, 4, 5, 4, 4, 3, 4]},
    },
]


class Command(BaseCommand):
    help = "Load the demo care team, clinicians and patients (idempotent)."

    def handle(self, *args, **options):
        clinician = services.create_clinician(
            username="dr-demo",
            password=PASSWORD,
            team_name=TEAM,
            team_role=TeamRole.PAIN_PHYSICIAN,
            email="dr-demo@example.org",
        )
        services.create_clinician(
            username="nurse-demo",
            password=PASSWORD,
            team_name=TEAM,
            team_role=TeamRole.NURSE,
            email="nurse-demo@example.org",
        )
        services.create_clinician(
            username="admin-demo", password=PASSWORD, team_name=TEAM, team_role=TeamRole.TEAM_ADMIN
        )
        team = clinician.memberships.get().team
        if settings.DEBUG:  # a published secret is for the local demo only
            for username in DEMO_TOTP_USERS:
                twofactor.set_authenticator_key(
                    user=User.objects.get(username=username), key_hex=demo_totp_key_hex()
                )
        for spec in PATIENTS:
            spec = dict(spec)
            diary = spec.pop("diary")
            with transaction.atomic():
                patient = self.seed_patient(team, spec)
            self.seed_diary(patient, diary)
            evaluate_patient(patient_id=patient.pk)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(
            f"Logins (password “{PASSWORD}”): clinicians dr-demo, nurse-demo, admin-demo (team admin); "
            "patients rosa, alan, grace; caregiver marco (for rosa)."
        )
        if settings.DEBUG:
            self.stdout.write(
                f"Second step for {', '.join(DEMO_TOTP_USERS)}: add the TOTP key {DEMO_TOTP_SECRET} to an "
                "authenticator app, or print the current code with `manage.py demo_totp_code`."
            )
        self.stdout.write(self.pending_invite(team, clinician))

    def pending_invite(self, team, clinician: User) -> str:
        """A patient not yet on the app and a fresh invite, so a newcomer can enroll a phone."""
        nadia = Patient.objects.filter(care_team=team, display_name="Nadia (new patient)", user=None).first()
        if nadia is None:
            nadia = services.create_patient(
                data={
                    "display_name": "Nadia (new patient)",
                    "care_team": team,
                    "timezone": "Europe/Rome",
                    "language": "it",
                }
            )
        _, code = services.issue_invite(patient=nadia, by=clinician, role=Role.PATIENT)
        return f"Enroll a phone as Nadia: {settings.PUBLIC_URL}/app/#enroll={code} (invite code {code})"

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

    def seed_diary(self, patient: Patient, diary: dict) -> None:
        """One evening check-in a day up to yesterday; ids derived from patient and day."""
        rng = random.Random(patient.display_name)  # noqa: S311 - the same demo diary at every run
        pains = diary["pain"]
        today = patient.local_today()
        now = timezone.now()
        ingest_key = uuid.uuid4()  # one seeding, one ingest
        records = []
        for offset, pain in enumerate(reversed(pains), start=1):
            day = today - timedelta(days=offset)
            evening = datetime.combine(day, time(20, rng.randint(0, 59)), tzinfo=patient.zone)
            data = {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"crossroad-demo/{patient.pk}/{day}"),
                "recorded_at": evening,
                "pain_now": pain,
                "pain_worst": min(10, pain + rng.randint(0, 2)),
                "pain_average": max(0, pain - 1),
                "interference": {
                    item: max(0, pain - rng.randint(0, 2))
                    for item in ("general_activity", "mood", "sleep", "enjoyment")
                },
                "symptoms": {"tiredness": max(0, pain - 1), "sleep_disturbance": max(0, pain - 2)},
                "neuropathic": diary.get("neuropathic", []) if pain >= 5 else [],
            }
            record = build_record(
                kind="checkin",
                patient=patient,
                reporter=patient.user,
                data=data,
                now=now,
                ingest_key=ingest_key,
            )
            # A record "arrives" the evening it was written: a seeded diary is not late.
            record.created_at = record.updated_at = evening
            record.late = False
            records.append(("checkin", record))
        store_records(records=records)
