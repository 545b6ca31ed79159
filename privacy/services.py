"""Data export and erasure (SPEC "Interop, privacy, languages"; GDPR articles 15, 17, 20)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.actions import withdrawal as alerts_withdrawal
from alerts.models import Alert
from alerts.serializers import AlertStatusSerializer
from care import services as care_services
from care.models import CaregiverLink, Patient, User
from care.serializers import CaregiverLinkSerializer, MeSerializer, PatientSerializer
from diary import services as diary_services
from diary.models import RECORD_MODELS, RecordRevision
from diary.serializers import SERIALIZERS
from interop.bundles import collection_bundle


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
    """Stop collection at once and erase what identifies the patient: each app withdraws
    the patient from its own tables, in dependency order.

    The clinical values are kept, pseudonymized, unless ERASURE_MODE is "delete", which
    removes the diary and its alerts too.
    """
    patient = Patient.objects.select_for_update().get(user=user)
    delete = settings.ERASURE_MODE == "delete"
    care_services.withdraw_patient(patient=patient, client_ip=client_ip)
    diary_services.withdraw_patient(patient=patient, delete=delete)
    alerts_withdrawal.withdraw_patient(patient=patient, by=user, delete=delete)
    return patient
