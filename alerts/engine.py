"""Load a bounded window of one patient's diary and run every enabled rule on it.

Reads a fixed number of queries over at most WINDOW_DAYS local days, never the whole
history, so evaluating a patient costs the same after a week or after five years. What it
loads (a Snapshot) is handed on: the triage row is computed from it, not read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Max, Q

from alerts.models import AlertRuleConfig
from alerts.rules import RULES, WINDOW_DAYS, Day, Finding, PatientContext, Window, default_params
from care.models import Patient
from diary import catalog
from diary.days import checkin_pain, highest_symptoms
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus


@dataclass
class _DayBuilder:
    date: date
    has_checkin: bool = False
    pain: int | None = None
    interference: float | None = None
    neuropathic: int = 0
    late: bool = False
    last_recorded_at: datetime | None = None

    def __post_init__(self):
        self.symptoms: dict[str, int] = {}
        self.red_flags: set[str] = set()
        self.adverse: dict[str, int] = {}
        self.flags = {"wants_fewer_medications": False, "wants_procedure_discussion": False}
        self.limiting = 0
        self.delivered = 0
        self.denied = 0
        self.bolus_ml = Decimal(0)
        self.ids: set[str] = set()

    def freeze(self) -> Day:
        return Day(
            date=self.date,
            has_checkin=self.has_checkin,
            pain=self.pain,
            interference=self.interference,
            neuropathic=self.neuropathic,
            symptoms=dict(self.symptoms),
            red_flags=tuple(sorted(self.red_flags)),
            adverse=dict(self.adverse),
            limiting_reports=self.limiting,
            boluses_delivered=self.delivered,
            boluses_denied=self.denied,
            bolus_ml=self.bolus_ml,
            record_ids=tuple(sorted(self.ids)),
            late=self.late,
            last_recorded_at=self.last_recorded_at,
            **self.flags,
        )


def _higher(current: Any, new: Any) -> Any:
    if new is None:
        return current
    return new if current is None else max(current, new)


def load_window(patient: Patient, today: date) -> Window:
    """Three bounded reads (check-ins, adverse effects, boluses) folded into day values."""
    first = today - timedelta(days=WINDOW_DAYS)
    days: dict[date, _DayBuilder] = {}

    def day(when: date, pk, late: bool) -> _DayBuilder:
        builder = days.setdefault(when, _DayBuilder(when))
        builder.late |= late
        builder.ids.add(str(pk))
        return builder

    checkins = _active(CheckIn, patient, first, today)
    for pk, when, late, *values in checkins.values_list("id", "local_date", "late", *CHECKIN_VALUES):
        _add_checkin(day(when, pk, late), *values)
    for pk, when, late, effect, grade, limiting in _active(AdverseEffect, patient, first, today).values_list(
        "id", "local_date", "late", "effect", "grade", "limits_daily_activities"
    ):
        d = day(when, pk, late)
        d.adverse[effect] = max(grade, d.adverse.get(effect, grade))
        d.limiting += bool(limiting)
    for pk, when, late, outcome, dose, unit in _active(PtaBolus, patient, first, today).values_list(
        "id", "local_date", "late", "outcome", "dose", "unit"
    ):
        _add_bolus(day(when, pk, late), outcome, dose, unit)
    return Window(today=today, days={when: b.freeze() for when, b in days.items()})


CHECKIN_VALUES = (
    "recorded_at",
    "pain_now",
    "pain_worst",
    "interference_mean",
    "neuropathic",
    "symptoms",
    "red_flags",
    "wants_fewer_medications",
    "wants_procedure_discussion",
)


def _active(model, patient: Patient, first: date, today: date):
    return model.objects.for_patient(patient).active().between(first, today)


def _add_checkin(
    d: _DayBuilder, recorded_at, now, worst, interference, neuropathic, symptoms, red_flags, fewer, procedure
):
    d.has_checkin = True
    d.last_recorded_at = _higher(d.last_recorded_at, recorded_at)
    d.pain = _higher(d.pain, checkin_pain(now, worst))
    d.interference = _higher(d.interference, interference)
    d.neuropathic = max(d.neuropathic, len(neuropathic))
    d.symptoms = highest_symptoms([d.symptoms, symptoms])
    d.red_flags.update(red_flags)
    d.flags["wants_fewer_medications"] |= fewer
    d.flags["wants_procedure_discussion"] |= procedure


def _add_bolus(d: _DayBuilder, outcome: str, dose, unit: str) -> None:
    if outcome != PtaBolus.Outcome.DELIVERED:
        d.denied += 1
        return
    d.delivered += 1
    if dose is not None and unit == "ml":
        d.bolus_ml += dose


@dataclass(frozen=True)
class Snapshot:
    """What one evaluation reads of a patient, loaded once and handed on."""

    window: Window
    context: PatientContext
    last_checkin_at: datetime | None  # the latest active check-in's recorded_at


def load(patient: Patient, today: date | None = None) -> Snapshot:
    today = today or patient.local_today()
    window = load_window(patient, today)
    in_window = [d for d in window.days.values() if d.has_checkin]
    if in_window:
        last_on = max(d.date for d in in_window)
        last_at = max(d.last_recorded_at for d in in_window)
    else:
        # Uses the (patient, local_date) index: one probe, whatever the history length.
        last_on, last_at = (
            CheckIn.objects.for_patient(patient)
            .active()
            .order_by("-local_date", "-recorded_at")
            .values_list("local_date", "recorded_at")
            .first()
        ) or (None, None)
    return Snapshot(window=window, context=load_context(patient, today, last_on), last_checkin_at=last_at)


def load_context(
    patient: Patient, today: date, last_checkin_on: date | None, *, doses: bool = True
) -> PatientContext:
    """The patient's context; `doses=False` leaves out the recent doses (the clock's rules
    do not read them)."""
    since = today - timedelta(days=WINDOW_DAYS)
    recent = (
        MedicationDose.objects.for_patient(patient)
        .active()
        .filter(local_date__gte=since, local_date__lte=today)
        .aggregate(
            opioid=Max("local_date", filter=Q(drug__in=catalog.OPIOID_CODES)),
            adjuvant=Max("local_date", filter=Q(drug__in=catalog.ADJUVANT_CODES)),
        )
        if doses
        else {"opioid": None, "adjuvant": None}
    )
    return PatientContext(
        today=today,
        baseline_mme=patient.baseline_mme,
        limited_prognosis=patient.limited_prognosis,
        cancer_survivor=patient.cancer_survivor,
        substance_use_history=patient.substance_use_history,
        organ_failure=patient.organ_failure,
        idds=patient.idds,
        idds_max_daily_boluses=patient.idds_max_daily_boluses,
        idds_next_refill_date=patient.idds_next_refill_date,
        idds_reservoir_ml=patient.idds_reservoir_ml,
        activated_on=patient.activated_on,
        last_checkin_on=last_checkin_on,
        last_opioid_dose_on=recent["opioid"],
        last_adjuvant_dose_on=recent["adjuvant"],
    )


RuleSettings = dict[str, tuple[bool, dict[str, Any]]]


def effective_settings(configs) -> RuleSettings:
    """(enabled, params) per rule: SPEC defaults, then the team's, then the patient's."""
    effective = {code: (True, default_params(code)) for code in RULES}
    # Team defaults first, the patient's override last, so the override wins.
    for config in sorted(configs, key=lambda c: c.patient_id is not None):
        _, params = effective[config.rule]
        effective[config.rule] = (config.enabled, {**params, **config.params})
    return effective


def rule_settings(patient: Patient) -> RuleSettings:
    return effective_settings(
        AlertRuleConfig.objects.filter(care_team_id=patient.care_team_id).filter(
            Q(patient__isnull=True) | Q(patient=patient)
        )
    )


def run(
    settings: RuleSettings, snapshot: Snapshot, *, only: tuple[str, ...] | None = None
) -> dict[str, Finding | None]:
    """Every enabled rule's verdict on the snapshot (or the rules named in `only`)."""
    verdicts: dict[str, Finding | None] = {}
    for code, (enabled, params) in settings.items():
        if enabled and (only is None or code in only):
            verdicts[code] = RULES[code].check(snapshot.window, snapshot.context, params)
    return verdicts


def evaluate(
    patient: Patient, *, only: tuple[str, ...] | None = None, today: date | None = None
) -> dict[str, Finding | None]:
    """Every enabled rule's verdict for the patient today (or the rules named in `only`)."""
    return run(rule_settings(patient), load(patient, today), only=only)


# --- The clock's light path ---------------------------------------------------------------
#
# The hourly run evaluates the rules whose window closes with time (Rule.scheduled) for
# every patient. Their snapshot is light: the patient's own fields, the last check-in and
# the delivered bolus volumes are all they read, loaded for a whole chunk of patients in a
# few queries. tests/test_clock_rules.py holds the light verdicts equal to the full ones.


def load_light(patients: list[Patient]) -> dict[Any, Snapshot]:
    todays = {p.pk: p.local_today() for p in patients}
    first = min(todays.values(), default=date.today()) - timedelta(days=WINDOW_DAYS)  # noqa: DTZ011
    last_checkins = dict(
        CheckIn.objects.filter(patient__in=list(todays), status="active")
        .values("patient_id")
        .annotate(last=Max("local_date"))
        .values_list("patient_id", "last")
    )
    bolus_ml: dict[Any, dict[date, Decimal]] = {}
    pumps = [p.pk for p in patients if p.idds]
    for patient_id, when, dose in (
        PtaBolus.objects.filter(
            patient__in=pumps,
            status="active",
            outcome=PtaBolus.Outcome.DELIVERED,
            unit="ml",
            local_date__gte=first,
        ).values_list("patient_id", "local_date", "dose")
        if pumps
        else ()
    ):
        days = bolus_ml.setdefault(patient_id, {})
        days[when] = days.get(when, Decimal(0)) + (dose or 0)
    return {
        p.pk: Snapshot(
            window=Window(
                today=todays[p.pk],
                days={when: Day(date=when, bolus_ml=ml) for when, ml in bolus_ml.get(p.pk, {}).items()},
            ),
            context=load_context(p, todays[p.pk], last_checkins.get(p.pk), doses=False),
            last_checkin_at=None,
        )
        for p in patients
    }


def settings_of(patients: list[Patient]) -> dict[Any, RuleSettings]:
    """Each patient's rule settings, for a whole chunk in one query."""
    configs = list(
        AlertRuleConfig.objects.filter(
            Q(care_team_id__in={p.care_team_id for p in patients}, patient__isnull=True)
            | Q(patient__in=[p.pk for p in patients])
        )
    )
    return {
        p.pk: effective_settings(
            c
            for c in configs
            if c.patient_id == p.pk or (c.patient_id is None and c.care_team_id == p.care_team_id)
        )
        for p in patients
    }


def verdict_map(verdicts: Mapping[str, Finding | None]) -> dict[str, Finding]:
    return {code: f for code, f in verdicts.items() if f is not None}
