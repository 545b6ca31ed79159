"""What every rule reads and returns: day values of a bounded window, the patient's
context, and a finding with its evidence. No ORM here: a rule test needs no database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any, Literal

from django.utils.functional import Promise

Severity = Literal["info", "warning", "urgent"]
SEVERITY_RANK: dict[str, int] = {"info": 1, "warning": 2, "urgent": 3}


@dataclass(frozen=True)
class Day:
    """SPEC day values of one patient-local day (active records only)."""

    date: date
    has_checkin: bool = False
    pain: int | None = None  # highest pain_now or pain_worst
    interference: float | None = None  # highest BPI interference mean (>= 4 of 7 items)
    neuropathic: int = 0  # most DN4 descriptors reported in one check-in
    symptoms: Mapping[str, int] = field(default_factory=dict)  # highest score per symptom
    red_flags: tuple[str, ...] = ()
    wants_fewer_medications: bool = False
    wants_procedure_discussion: bool = False
    adverse: Mapping[str, int] = field(default_factory=dict)  # highest grade per effect
    limiting_reports: int = 0  # adverse effects reported as limiting daily activities
    boluses_delivered: int = 0
    boluses_denied: int = 0
    bolus_ml: Decimal = Decimal(0)  # volume of delivered boluses given in ml
    record_ids: tuple[str, ...] = ()  # evidence: the records behind these values
    late: bool = False  # some record of this day arrived more than 24 h late
    last_recorded_at: datetime | None = None  # the day's latest check-in, as the phone said


@dataclass(frozen=True)
class Window:
    """The last days of a patient's diary, anchored on their local today (SPEC "Alert rules")."""

    today: date
    days: Mapping[date, Day]

    def day(self, when: date) -> Day:
        return self.days.get(when) or Day(date=when)

    @property
    def current(self) -> date:
        """Today when it has a check-in, else yesterday: an unfinished day counts only once
        it has one."""
        return self.today if self.day(self.today).has_checkin else self.today - timedelta(days=1)

    def last(self, n: int) -> list[Day]:
        """The anchored last n days, newest first."""
        return [self.day(self.current - timedelta(days=i)) for i in range(n)]

    def recent(self, n: int) -> list[Day]:
        """Today and the n - 1 days before, whether or not today has a check-in: for
        events (a red flag, a severe effect, a bolus) that matter the moment they happen."""
        return [self.day(self.today - timedelta(days=i)) for i in range(n)]

    def baseline(self, before: date, days: int = 7, min_days: int = 3) -> float | None:
        """Median day pain over the `days` days before `before`, counting days with a
        check-in; None with fewer than `min_days` of them."""
        pains = [
            d.pain
            for i in range(1, days + 1)
            if (d := self.day(before - timedelta(days=i))).has_checkin and d.pain is not None
        ]
        return median(pains) if len(pains) >= min_days else None


@dataclass(frozen=True)
class PatientContext:
    today: date
    baseline_mme: Decimal | None = None
    limited_prognosis: bool = False
    cancer_survivor: bool = False
    substance_use_history: bool = False
    organ_failure: bool = False
    idds: bool = False
    idds_max_daily_boluses: int | None = None
    idds_next_refill_date: date | None = None
    idds_reservoir_ml: Decimal | None = None
    activated_on: date | None = None
    last_checkin_on: date | None = None
    last_opioid_dose_on: date | None = None
    last_adjuvant_dose_on: date | None = None

    def on_opioids(self, lookback_days: int) -> bool:
        """An opioid dose logged in the lookback, or a baseline regimen MME > 0."""
        recent = (
            self.last_opioid_dose_on is not None
            and (self.today - self.last_opioid_dose_on).days < lookback_days
        )
        return recent or bool(self.baseline_mme and self.baseline_mme > 0)

    def on_neuropathic_treatment(self, lookback_days: int) -> bool:
        recent_adjuvant = (
            self.last_adjuvant_dose_on is not None
            and (self.today - self.last_adjuvant_dose_on).days < lookback_days
        )
        return recent_adjuvant or self.on_opioids(lookback_days)


@dataclass(frozen=True)
class Finding:
    """What a rule found. The rule function fills the evidence; `Rule.check` stamps the
    rule's code and severity, so a rule never repeats its own registry entry."""

    rule: str = ""
    severity: Severity = "info"
    evidence: dict[str, Any] = field(default_factory=dict)
    record_ids: tuple[str, ...] = ()
    late: bool = False


@dataclass(frozen=True)
class Param:
    default: int | float
    minimum: int | float
    maximum: int | float
    integer: bool = True


RuleFunction = Callable[[Window, PatientContext, Mapping[str, Any]], Finding | None]


@dataclass(frozen=True)
class Rule:
    """Everything the product knows of one rule: adding a rule is its function and one of these."""

    code: str
    function: RuleFunction
    label: Promise  # what clinicians read, translatable
    severity: Severity
    box2: int | None  # the Box 2 criterion it evidences, if any
    referral: bool  # "+ referral" in SPEC's table
    params: Mapping[str, Param]
    # How many local days before today the rule reads (the engine loads the widest).
    lookback_days: int
    # Its window closes with time (no new record needed): also evaluated on the clock.
    scheduled: bool = False

    def check(self, window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
        found = self.function(window, context, params)
        return None if found is None else replace(found, rule=self.code, severity=self.severity)


def finding(days: list[Day], **evidence: Any) -> Finding:
    """A finding whose evidence lists the days (values) and the records behind them."""
    ids = tuple(sorted({rid for d in days for rid in d.record_ids}))
    shown = [
        {"date": d.date.isoformat(), "pain": d.pain, "interference": d.interference}
        | ({"late": True} if d.late else {})
        for d in sorted(days, key=lambda d: d.date)
    ]
    return Finding(
        evidence={"days": shown, **evidence},
        record_ids=ids,
        late=any(d.late for d in days),
    )
