"""Everything about one patient as FHIR resources, in a bounded number of queries however
long the history (each table read once, streamed with iterator()), every resource
validated before it leaves. The REST API, the collection Bundle, `me/export/` and the
Bulk Data export all read from here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Count, Max, Q

from alerts.models import Alert, ReferralRecommendation
from care.models import CaregiverLink, Patient, User
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus, RecordStatus, ReporterRole
from interop.mapping.adverse_events import adverse_event_resource
from interop.mapping.common import People, Resource, is_retracted, reference_of
from interop.mapping.device import (
    bolus_administration_resource,
    denied_activations_resource,
    device_resources,
)
from interop.mapping.flags import alert_resources
from interop.mapping.medications import dose_resources
from interop.mapping.observations import checkin_observations
from interop.mapping.patient import patient_resource, practitioner_resource, related_person_resource
from interop.mapping.provenance import provenance_resource
from interop.mapping.questionnaire import questionnaire_response_resource
from interop.mapping.referrals import referral_resources
from interop.validation import validate

CHUNK = 500
DENIED = (PtaBolus.Outcome.DENIED_LOCKOUT, PtaBolus.Outcome.DENIED_DAILY_MAX)

# The resource types this module emits (CapabilityStatement, Bulk `_type`).
RESOURCE_TYPES = (
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "QuestionnaireResponse",
    "Observation",
    "Provenance",
    "AdverseEvent",
    "MedicationAdministration",
    "Device",
    "DeviceUseStatement",
    "Flag",
    "DetectedIssue",
    "ServiceRequest",
    "Task",
)


def load_people(patient: Patient) -> tuple[People, list[CaregiverLink]]:
    links = list(CaregiverLink.objects.filter(patient=patient).order_by("created_at", "id"))
    # A caregiver relinked after a revocation: the newest link stands for them.
    return People({link.caregiver_id: link.pk for link in links}, {}), links


def _since(queryset, since: datetime | None, field: str = "updated_at"):
    return queryset.filter(**{f"{field}__gte": since}) if since else queryset


def patient_resources(
    patient: Patient, *, types: Iterable[str] | None = None, since: datetime | None = None
) -> Iterator[Resource]:
    """Every resource about the patient (or those of `types`, changed at or after `since`)."""
    wanted = set(types or RESOURCE_TYPES)
    for resource in _resources(patient, since):
        if resource["resourceType"] in wanted:
            yield validate(resource)


def _resources(patient: Patient, since: datetime | None) -> Iterator[Resource]:
    people, links = load_people(patient)
    clinicians: set = set()
    # Alerts and referrals point at records of any age: the references of those records
    # (and only of those, so memory stays small) are kept, whether they changed or not.
    evidence = {
        str(rid)
        for ids in Alert.objects.filter(patient=patient).values_list("record_ids", flat=True)
        for rid in ids
    }
    record_refs: dict[str, dict] = {}
    observation_refs: dict[str, list[dict]] = {}

    if since is None or patient.updated_at >= since:
        yield patient_resource(patient)
        yield from device_resources(patient)
    for link in links:
        if since is None or link.created_at >= since or (link.revoked_at and link.revoked_at >= since):
            yield related_person_resource(link)

    def rows(queryset, ordering: str):
        """The records to export (those changed since, with `since`) and the evidence."""
        if since is not None:
            queryset = queryset.filter(Q(updated_at__gte=since) | Q(pk__in=evidence))
        return queryset.order_by(ordering, "id").iterator(chunk_size=CHUNK)

    def changed(record) -> bool:
        return since is None or record.updated_at >= since

    def noted(record, resources: list[Resource]) -> Iterator[Resource]:
        if not changed(record):
            return
        if record.reporter_role == ReporterRole.CLINICIAN:
            clinicians.add(record.reported_by_id)
        provenance = provenance_resource(record, resources, people)
        yield from resources
        if provenance:
            yield provenance

    def keep(record, resource_type: str) -> None:
        if str(record.pk) in evidence:
            record_refs[str(record.pk)] = {"reference": f"{resource_type}/{record.pk}"}

    for checkin in rows(CheckIn.objects.for_patient(patient), "recorded_at"):
        observations = checkin_observations(checkin, people)
        keep(checkin, "QuestionnaireResponse")
        if str(checkin.pk) in evidence:
            observation_refs[str(checkin.pk)] = [reference_of(o) for o in observations]
        yield from noted(checkin, [questionnaire_response_resource(checkin, people), *observations])

    for effect in rows(AdverseEffect.objects.for_patient(patient), "recorded_at"):
        if not is_retracted(effect):
            keep(effect, "AdverseEvent")
            yield from noted(effect, [adverse_event_resource(effect, people)])

    for dose in rows(MedicationDose.objects.for_patient(patient), "taken_at"):
        keep(dose, "MedicationAdministration")
        yield from noted(dose, dose_resources(dose, people))

    delivered = PtaBolus.objects.for_patient(patient).filter(outcome=PtaBolus.Outcome.DELIVERED)
    for bolus in rows(delivered, "occurred_at"):
        keep(bolus, "MedicationAdministration")
        yield from noted(bolus, [bolus_administration_resource(bolus, people, idds=patient.idds)])
    yield from denied_days(patient, since)

    alerts = list(_changed_alerts(Alert.objects.filter(patient=patient), since).order_by("created_at", "id"))
    for alert in alerts:
        yield from alert_resources(alert, record_refs)
    referrals = _since(ReferralRecommendation.objects.filter(patient=patient), since).order_by("created_at")
    referral_rows = list(referrals)
    if referral_rows:
        # The evidence of a referral: the patient's alerts, changed or not.
        evidence = alerts if since is None else list(Alert.objects.filter(patient=patient))
        for referral in referral_rows:
            if referral.decided_by_id:
                clinicians.add(referral.decided_by_id)
            yield from referral_resources(referral, evidence, observation_refs)
    if clinicians:
        for user in User.objects.filter(pk__in=clinicians).order_by("pk"):
            yield practitioner_resource(user)


def _changed_alerts(queryset, since: datetime | None):
    if since is None:
        return queryset
    return queryset.filter(
        Q(created_at__gte=since)
        | Q(last_triggered_at__gte=since)
        | Q(acknowledged_at__gte=since)
        | Q(resolved_at__gte=since)
    )


def denied_days(patient: Patient, since: datetime | None) -> Iterator[Resource]:
    """One Observation per local day with denied activations: the day's count of the
    active records, redone whole when any record of the day changed."""
    rows = PtaBolus.objects.for_patient(patient).filter(outcome__in=DENIED)
    if since is not None:
        changed = rows.filter(updated_at__gte=since).values("local_date")
        rows = rows.filter(local_date__in=changed)
    days = (
        rows.values("local_date")
        .annotate(
            count=Count("id", filter=Q(status=RecordStatus.ACTIVE)),
            updated=Max("updated_at"),
        )
        .order_by("local_date")
    )
    for day in days:
        yield denied_activations_resource(
            patient.pk, day["local_date"], day["count"], day["updated"], idds=patient.idds
        )
