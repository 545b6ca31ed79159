"""The sources the FHIR searches and `$everything` read: one per table of a patient's
record, each ordered by its moment and id, each row expanding into its resources; and
the searches of API.md "FHIR" as lists of sources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from alerts.models import Alert, ReferralRecommendation
from care.models import Patient, User
from diary import catalog
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus, RecordStatus
from interop.mapping.adverse_events import adverse_event_resource
from interop.mapping.common import LOINC, Resource, code_system_url, reference_of
from interop.mapping.device import (
    bolus_administration_resource,
    denied_activations_resource,
    device_resources,
)
from interop.mapping.everything import DENIED, load_people
from interop.mapping.flags import alert_resources
from interop.mapping.medications import dose_resources, medication_administration_resource, mme_observation
from interop.mapping.observations import DN4_CODE, checkin_observations
from interop.mapping.patient import patient_resource, practitioner_resource, related_person_resource
from interop.mapping.provenance import provenance_resource
from interop.mapping.questionnaire import questionnaire_response_resource
from interop.mapping.referrals import STATES, referral_resources
from interop.search import Context, SearchError, Source, date_filter, parse_dates, parse_token


def context_for(patient: Patient) -> Context:
    people, links = load_people(patient)
    return Context(patient, people, links)


def _record_refs(ctx: Context, ids: set[str]) -> dict[str, dict]:
    """The resource standing for each of these diary record ids (one query per table)."""
    refs: dict[str, dict] = {}
    for model, resource_type in (
        (CheckIn, "QuestionnaireResponse"),
        (AdverseEffect, "AdverseEvent"),
        (MedicationDose, "MedicationAdministration"),
        (PtaBolus, "MedicationAdministration"),
    ):
        rows = model.objects.for_patient(ctx.patient).filter(pk__in=ids)
        if model is AdverseEffect:
            rows = rows.filter(status=RecordStatus.ACTIVE)
        for pk in rows.values_list("pk", flat=True):
            refs[str(pk)] = {"reference": f"{resource_type}/{pk}"}
    return refs


def _alerts_context(ctx: Context) -> dict[str, dict]:
    def load() -> dict[str, dict]:
        ids = {
            str(rid)
            for ids in Alert.objects.filter(patient=ctx.patient).values_list("record_ids", flat=True)
            for rid in ids
        }
        return _record_refs(ctx, ids) if ids else {}

    return ctx.once("record_refs", load)


def _referral_context(ctx: Context) -> tuple[list[Alert], dict[str, list[dict]]]:
    def load():
        alerts = list(Alert.objects.filter(patient=ctx.patient))
        ids = {str(rid) for a in alerts for rid in a.record_ids}
        observations = {
            str(c.pk): [reference_of(o) for o in checkin_observations(c, ctx.people)]
            for c in CheckIn.objects.for_patient(ctx.patient).filter(pk__in=ids)
        }
        return alerts, observations

    return ctx.once("referral", load)


def checkins(ctx: Context) -> QuerySet:
    return CheckIn.objects.for_patient(ctx.patient).order_by("recorded_at", "id")


def _with_provenance(record, resources: list[Resource], ctx: Context) -> list[Resource]:
    provenance = provenance_resource(record, resources, ctx.people)
    return [*resources, provenance] if provenance else resources


def checkin_everything(row: CheckIn, ctx: Context) -> list[Resource]:
    resources = [questionnaire_response_resource(row, ctx.people), *checkin_observations(row, ctx.people)]
    return _with_provenance(row, resources, ctx)


def denied_days(ctx: Context) -> QuerySet:
    return (
        PtaBolus.objects.for_patient(ctx.patient)
        .filter(outcome__in=DENIED)
        .values("local_date")
        .annotate(count=Count("pk", filter=Q(status=RecordStatus.ACTIVE)), updated=Max("updated_at"))
        .order_by("local_date")
    )


def denied_expand(row: dict, ctx: Context) -> list[Resource]:
    return [
        denied_activations_resource(
            ctx.patient.pk, row["local_date"], row["count"], row["updated"], idds=ctx.patient.idds
        )
    ]


def adverse_effects(ctx: Context) -> QuerySet:
    return (
        AdverseEffect.objects.for_patient(ctx.patient)
        .filter(status=RecordStatus.ACTIVE)
        .order_by("recorded_at", "id")
    )


def doses(ctx: Context) -> QuerySet:
    return MedicationDose.objects.for_patient(ctx.patient).order_by("taken_at", "id")


def delivered_boluses(ctx: Context) -> QuerySet:
    return (
        PtaBolus.objects.for_patient(ctx.patient)
        .filter(outcome=PtaBolus.Outcome.DELIVERED)
        .order_by("occurred_at", "id")
    )


def alerts(ctx: Context) -> QuerySet:
    return Alert.objects.filter(patient=ctx.patient).order_by("created_at", "id")


def referrals(ctx: Context) -> QuerySet:
    return ReferralRecommendation.objects.filter(patient=ctx.patient).order_by("created_at", "id")


def referral_expand(row: ReferralRecommendation, ctx: Context) -> list[Resource]:
    evidence, observations = _referral_context(ctx)
    return referral_resources(row, evidence, observations)


def patient_rows(ctx: Context) -> QuerySet:
    return Patient.objects.filter(pk=ctx.patient.pk).select_related("care_team").order_by("created_at", "id")


def patient_expand(row: Patient, ctx: Context) -> list[Resource]:
    return [
        patient_resource(row),
        *device_resources(row),
        *(related_person_resource(link) for link in ctx.links),
    ]


def practitioners(ctx: Context) -> QuerySet:
    reporters = Q(
        pk__in=CheckIn.objects.for_patient(ctx.patient)
        .filter(reporter_role="clinician")
        .values("reported_by")
    )
    for model in (AdverseEffect, MedicationDose, PtaBolus):
        reporters |= Q(
            pk__in=model.objects.for_patient(ctx.patient)
            .filter(reporter_role="clinician")
            .values("reported_by")
        )
    deciders = Q(pk__in=ReferralRecommendation.objects.filter(patient=ctx.patient).values("decided_by"))
    return User.objects.filter(reporters | deciders).order_by("date_joined", "id")


def _one(
    make: Callable[[Any, Context], Resource | list[Resource]],
) -> Callable[[Any, Context], list[Resource]]:
    def expand(row: Any, ctx: Context) -> list[Resource]:
        made = make(row, ctx)
        return made if isinstance(made, list) else [made]

    return expand


EVERYTHING = [
    Source("patient", patient_rows, patient_expand, moment="created_at"),
    Source(
        "practitioners", practitioners, _one(lambda u, ctx: practitioner_resource(u)), moment="date_joined"
    ),
    Source("checkins", checkins, checkin_everything),
    Source(
        "adverse_effects",
        adverse_effects,
        _one(lambda r, ctx: _with_provenance(r, [adverse_event_resource(r, ctx.people)], ctx)),
    ),
    Source(
        "doses",
        doses,
        _one(lambda r, ctx: _with_provenance(r, dose_resources(r, ctx.people), ctx)),
        moment="taken_at",
    ),
    Source(
        "boluses",
        delivered_boluses,
        _one(
            lambda r, ctx: _with_provenance(
                r, [bolus_administration_resource(r, ctx.people, idds=ctx.patient.idds)], ctx
            )
        ),
        moment="occurred_at",
    ),
    Source("denied_days", denied_days, denied_expand, moment="local_date"),
    Source(
        "alerts", alerts, _one(lambda a, ctx: alert_resources(a, _alerts_context(ctx))), moment="created_at"
    ),
    Source("referrals", referrals, referral_expand, moment="created_at"),
]


# --- searches ----------------------------------------------------------------------------


def observation_sources(dates: list, codes: list[str]) -> list[Source]:
    tokens = [parse_token(v) for value in codes for v in value.split(",")]

    def matches(resource: Resource) -> bool:
        if not tokens:
            return True
        codings = resource["code"]["coding"]
        return any(
            c["code"] == code and (system is None or c["system"] == system)
            for system, code in tokens
            for c in codings
        )

    def checkin_rows(ctx: Context) -> QuerySet:
        rows = checkins(ctx).filter(date_filter("recorded_at", dates))
        wanted = Q()
        for system, code in tokens:
            if code == catalog.BPI_INTERFERENCE_LOINC and system in (None, LOINC):
                wanted |= Q(interference_mean__isnull=False)
            elif code == DN4_CODE:
                wanted |= ~Q(neuropathic=[])
            elif code in catalog.SYMPTOMS and system in (None, code_system_url("symptom")):
                wanted |= Q(symptoms__has_key=code)
            else:
                return rows  # pain scores and other codes: every check-in may hold them
        return rows.filter(wanted) if tokens else rows

    def checkin_expand(row: CheckIn, ctx: Context) -> list[Resource]:
        return [o for o in checkin_observations(row, ctx.people) if matches(o)]

    def day_rows(ctx: Context) -> QuerySet:
        return denied_days(ctx).filter(date_filter("local_date", dates, is_date=True))

    def dose_rows(ctx: Context) -> QuerySet:
        return doses(ctx).filter(mme__isnull=False).filter(date_filter("taken_at", dates))

    def dose_expand(row: MedicationDose, ctx: Context) -> list[Resource]:
        return [o for o in [mme_observation(row, ctx.people)] if o and matches(o)]

    return [
        Source("checkins", checkin_rows, checkin_expand),
        Source("doses", dose_rows, dose_expand, moment="taken_at"),
        Source(
            "denied_days",
            day_rows,
            lambda row, ctx: [r for r in denied_expand(row, ctx) if matches(r)],
            moment="local_date",
        ),
    ]


SERVICE_REQUEST_STATUS = {
    fhir_status: [s for s, state in STATES.items() if state[0] == fhir_status]
    for fhir_status in ("active", "revoked", "completed")
}


def search_sources(resource_type: str, params) -> list[Source]:
    """The sources of a search of API.md "FHIR" (the patient is chosen by the caller)."""
    dates = parse_dates(params.getlist("date"))
    if resource_type == "Observation":
        return observation_sources(dates, params.getlist("code"))
    if resource_type == "QuestionnaireResponse":
        authored = parse_dates(params.getlist("authored")) + dates
        return [
            Source(
                "checkins",
                lambda ctx: checkins(ctx).filter(date_filter("recorded_at", authored)),
                _one(lambda r, ctx: questionnaire_response_resource(r, ctx.people)),
            )
        ]
    if resource_type == "AdverseEvent":
        return [
            Source(
                "adverse_effects",
                lambda ctx: adverse_effects(ctx).filter(date_filter("recorded_at", dates)),
                _one(lambda r, ctx: adverse_event_resource(r, ctx.people)),
            )
        ]
    if resource_type == "MedicationAdministration":
        times = parse_dates(params.getlist("effective-time")) + dates
        return [
            Source(
                "doses",
                lambda ctx: doses(ctx).filter(date_filter("taken_at", times)),
                _one(lambda r, ctx: medication_administration_resource(r, ctx.people)),
                moment="taken_at",
            ),
            Source(
                "boluses",
                lambda ctx: delivered_boluses(ctx).filter(date_filter("occurred_at", times)),
                _one(lambda r, ctx: bolus_administration_resource(r, ctx.people, idds=ctx.patient.idds)),
                moment="occurred_at",
            ),
        ]
    if resource_type == "ServiceRequest":
        statuses = [s for value in params.getlist("status") for s in value.split(",")]
        chosen = [st for s in statuses for st in SERVICE_REQUEST_STATUS.get(s, [])]

        def referral_rows(ctx: Context) -> QuerySet:
            rows = referrals(ctx)
            return rows.filter(status__in=chosen) if statuses else rows

        return [
            Source(
                "referrals",
                referral_rows,
                lambda r, ctx: [x for x in referral_expand(r, ctx) if x["resourceType"] == "ServiceRequest"],
                moment="created_at",
            )
        ]
    if resource_type == "Flag":
        statuses = [s for value in params.getlist("status") for s in value.split(",")]

        def alert_rows(ctx: Context) -> QuerySet:
            rows = alerts(ctx)
            if statuses and set(statuses) <= {"active", "inactive"} and len(set(statuses)) == 1:
                active = statuses[0] == "active"
                rows = (
                    rows.filter(status__in=Alert.UNRESOLVED)
                    if active
                    else rows.exclude(status__in=Alert.UNRESOLVED)
                )
            elif statuses and not set(statuses) <= {"active", "inactive"}:
                rows = rows.none()
            return rows

        return [
            Source(
                "alerts",
                alert_rows,
                lambda a, ctx: [
                    x for x in alert_resources(a, _alerts_context(ctx)) if x["resourceType"] == "Flag"
                ],
                moment="created_at",
            )
        ]
    raise SearchError(f"no search on {resource_type}")


# The searches served, with their parameters (also listed by the CapabilityStatement).
SEARCHES: dict[str, dict[str, str]] = {
    "Observation": {"patient": "reference", "date": "date", "code": "token"},
    "QuestionnaireResponse": {"patient": "reference", "authored": "date"},
    "AdverseEvent": {"subject": "reference", "date": "date"},
    "MedicationAdministration": {"patient": "reference", "effective-time": "date"},
    "ServiceRequest": {"patient": "reference", "status": "token"},
    "Flag": {"patient": "reference", "status": "token"},
}
