"""Every patient gets a status row with its triage key (data migration, apart from schema)."""

from django.db import migrations

NO_UNRESOLVED_ALERT = 10**12 - 1


def key(status, patient) -> str:
    # A frozen copy of care.models.triage_key: migrations must not import live code.
    oldest = status.oldest_unresolved_at
    since = int(oldest.timestamp()) if oldest else NO_UNRESOLVED_ALERT
    return (
        f"{3 - status.severity_rank}{2 - status.referral_rank}{since:012d}"
        f"|{patient.display_name.lower()[:200]}|{patient.pk}"
    )


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
