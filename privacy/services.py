"""Data export and erasure (SPEC "Interop, privacy, languages"; GDPR articles 15, 17, 20)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, ReferralRecommendation
from alerts.serializers import AlertStatusSerializer
from alerts.services import close_alert
from alerts.status import refresh_patient_status
from care.models import AccessEvent, CaregiverLink, Invite, Patient, User
from care.serializers import CaregiverLinkSerializer, MeSerializer, PatientSerializer
from care.services import revoke_refresh_tokens
from diary.models import RECORD_MODELS, AdverseEffect, CheckIn, RecordRevision
from diary.serializers import SERIALIZERS
from interop.bundles import collection_bundle

WITHDRAWN_RESOLUTION = "Consent withdrawn by the patient."
# Free-text fields of the diary that may name people or places.
FREE_TEXT = {CheckIn: ("note",), AdverseEffect: ("note", "suspected_drug")}


def export_patient(*, user: User, request) -> dict[str, Any]:
    """Everything Crossroad holds about the patient, in the API's own shapes."""
    patient = Patient.objects.get(user=user)
    records = {}
    for kind, model in RECORD_MODELS.items():
        rows = model.objects.for_patient(patient).order_by("created_at", "id")
        records[kind] = SERIALIZERS[kind](rows, many=True).data
    links = CaregiverLink.objects.filter(patient=patient).select_related("caregiver")
    return {
        "exported_at": timezone.now(),
        "account": MeSerializer(user).data,
        "patient": PatientSerializer(patient, context={"request": request}).data,
        "caregivers": CaregiverLinkSerializer(links, many=True).data,
        "records": records,
        "corrections": list(
            RecordRevision.objects.filter(record_id__in=_record_ids(patient)).values(
                "record_type", "record_id", "version", "change", "previous", "changed_at", "reason"
            )
        ),
        "alerts": AlertStatusSerializer(Alert.objects.filter(patient=patient), many=True).data,
        # The same FHIR R4 Bundle a clinician's `patients/{id}/fhir/` gives (GDPR art. 20).
        "fhir": collection_bundle(patient),
    }


def _record_ids(patient: Patient) -> list:
    ids: list = []
    for model in RECORD_MODELS.values():
        ids.extend(model.objects.for_patient(patient).values_list("id", flat=True))
    return ids


@transaction.atomic(durable=True)
def withdraw_consent(*, user: User, client_ip: str | None = None) -> Patient:
    """Stop collection at once and erase what identifies the patient.

    The account is closed (every token dies with it), caregiver links and devices go,
    and the diary's free text is blanked. The clinical values are kept, pseudonymized,
    unless ERASURE_MODE is "delete", which removes the diary and its alerts too.
    """
    patient = Patient.objects.select_for_update().get(user=user)
    now = timezone.now()
    record_ids = _record_ids(patient)

    revoke_refresh_tokens(user=user)
    user.devices.all().delete()
    CaregiverLink.objects.filter(patient=patient, revoked_at__isnull=True).update(revoked_at=now)
    Invite.objects.filter(patient=patient, used_at__isnull=True).delete()

    if settings.ERASURE_MODE == "delete":
        for model in RECORD_MODELS.values():
            model.objects.for_patient(patient).delete()
        RecordRevision.objects.filter(record_id__in=record_ids).delete()
        Alert.objects.filter(patient=patient).delete()
        ReferralRecommendation.objects.filter(patient=patient).delete()
    else:
        for model, fields in FREE_TEXT.items():
            model.objects.for_patient(patient).update(**dict.fromkeys(fields, ""))
        for revision in RecordRevision.objects.filter(record_id__in=record_ids):
            revision.previous = {
                k: ("" if k in ("note", "suspected_drug") else v) for k, v in revision.previous.items()
            }
            revision.save(update_fields=["previous"])
        for alert in Alert.objects.filter(patient=patient).unresolved().select_for_update():
            close_alert(alert=alert, by=user, resolution=WITHDRAWN_RESOLUTION)
        ReferralRecommendation.objects.filter(
            patient=patient, status=ReferralRecommendation.Status.SUGGESTED
        ).update(
            status=ReferralRecommendation.Status.DECLINED, decline_reason=WITHDRAWN_RESOLUTION, updated_at=now
        )

    pseudonym = f"withdrawn-{uuid.uuid4().hex[:12]}"
    patient.display_name = pseudonym
    patient.diagnosis = ""
    patient.withdrawn_at = now
    patient.save(update_fields=["display_name", "diagnosis", "withdrawn_at", "updated_at"])
    user.username = pseudonym
    user.email = user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    # The triage row is rebuilt from the pseudonym and what is left open.
    refresh_patient_status(patient)
    AccessEvent.objects.create(
        actor=user,
        actor_role=user.role,
        method="POST",
        path="/api/v1/me/erase/",
        status_code=200,
        patient_ids=[str(patient.pk)],
        client_ip=client_ip,
    )
    return patient
