"""The patient's team on the status row, and the (care_team, triage_key) index that a
team's triage page is read from, in place of the index on the key alone
(docs/performance.md, "Problems found" 1)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_team(apps, schema_editor):
    Patient = apps.get_model("care", "Patient")
    PatientStatus = apps.get_model("care", "PatientStatus")
    PatientStatus.objects.update(
        care_team_id=Subquery(Patient.objects.filter(pk=OuterRef("patient_id")).values("care_team_id")[:1])
    )
    if schema_editor.connection.vendor == "postgresql":
        # The new foreign key's checks are deferred to the commit; run them now, or the
        # NOT NULL below refuses a table with pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [("care", "0006_invite_taken_usernames")]

    operations = [
        migrations.AddField(
            model_name="patientstatus",
            name="care_team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="care.careteam",
            ),
        ),
        migrations.RunPython(copy_team, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="patientstatus",
            name="care_team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="care.careteam"
            ),
        ),
        # The key alone served a page only by reading every team's rows in key order and
        # filtering; the team's own range replaces it (one index less to write, too).
        migrations.AlterField(
            model_name="patientstatus",
            name="triage_key",
            field=models.CharField(default="", max_length=300),
        ),
        migrations.AddIndex(
            model_name="patientstatus",
            index=models.Index(fields=["care_team", "triage_key"], name="patientstatus_team_triage_key"),
        ),
    ]
