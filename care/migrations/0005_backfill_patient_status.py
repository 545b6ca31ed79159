"""Every patient gets a status row with its triage key (data migration, apart from schema)."""

import unicodedata
import uuid

from django.db import migrations

NO_UNRESOLVED_ALERT = 10**12 - 1


def key(status, patient) -> str:
    # A frozen copy of care.models.triage_key: migrations must not import live code.
    oldest = status.oldest_unresolved_at
    since = int(oldest.timestamp()) if oldest else NO_UNRESOLVED_ALERT
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", patient.display_name.lower()) if not unicodedata.combining(c)
    )
    name = plain.encode()[:100].hex().ljust(200, "0")
    return f"{3 - status.severity_rank}{2 - status.referral_rank}{since:012d}{name}{uuid.UUID(str(patient.pk)).hex}"


def backfill(apps, schema_editor):
    Patient = apps.get_model("care", "Patient")
    PatientStatus = apps.get_model("care", "PatientStatus")
    for patient in Patient.objects.iterator(chunk_size=500):
        status, _ = PatientStatus.objects.get_or_create(patient=patient)
        status.triage_key = key(status, patient)
        status.save(update_fields=["triage_key"])


class Migration(migrations.Migration):
    dependencies = [("care", "0004_patient_status_triage_key")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
