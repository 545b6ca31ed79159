"""The triage page: the API's most-urgent-first list of the clinician's patients, with
filters and a search, refreshing its rows every CLINIC_POLL_SECONDS through htmx (the
same template's `rows` partial, so a new urgent alert shows without a reload)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from care.access import audit_read
from care.models import Patient, TeamMembership
from clinic.charts import sparkline, trend_word
from clinic.middleware import POLL_PARAMETER
from clinic.signin import clinician_required
from diary.models import CheckIn

PAGE_SIZE = 50
TREND_DAYS = 7


class TriageFilterForm(forms.Form):
    q = forms.CharField(label=_("Search by name"), required=False, max_length=100)
    team = forms.ChoiceField(label=_("Team"), required=False)
    severity = forms.ChoiceField(
        label=_("Open alerts"),
        required=False,
        choices=[("", _("Any")), ("urgent", _("Urgent")), ("warning", _("Warning")), ("info", _("Info"))],
    )
    referral = forms.ChoiceField(
        label=_("Referral"),
        required=False,
        choices=[
            ("", _("Any")),
            ("suggested", _("Suggested")),
            ("accepted", _("Accepted")),
            ("none", _("None")),
        ],
    )

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", _("All my teams")), *((str(t.pk), t.name) for t in teams)]
        self.fields["q"].widget.attrs["type"] = "search"


def filtered(queryset, data: dict):
    if data.get("q"):
        queryset = queryset.filter(display_name__icontains=data["q"])
    if data.get("team"):
        queryset = queryset.filter(care_team_id=data["team"])
    if data.get("severity"):
        queryset = queryset.filter(**{f"status__open_{data['severity']}__gt": 0})
    if data.get("referral") == "none":
        queryset = queryset.filter(status__referral_status="")
    elif data.get("referral"):
        queryset = queryset.filter(status__referral_status=data["referral"])
    return queryset


def recent_day_pain(patients: list[Patient]) -> dict:
    """Per patient: day pain for each of the last 7 local days and the time of today's
    highest reading, from one query over the page's patients."""
    if not patients:
        return {}
    todays = {p.pk: p.local_today() for p in patients}
    pain: dict = defaultdict(dict)
    moment: dict = {}
    rows = (
        CheckIn.objects.active()
        .filter(patient__in=patients, local_date__gte=min(todays.values()) - timedelta(days=TREND_DAYS - 1))
        .values_list("patient_id", "local_date", "pain_now", "pain_worst", "recorded_at")
    )
    for patient_id, day, now, worst, recorded_at in rows:
        value = max(now, worst or 0)
        if value > pain[patient_id].get(day, -1):
            pain[patient_id][day] = value
            moment[(patient_id, day)] = recorded_at
    result = {}
    for patient in patients:
        today: date = todays[patient.pk]
        days = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
        when = moment.get((patient.pk, today))
        result[patient.pk] = {
            "values": [pain[patient.pk].get(d) for d in days],
            "today_at": when,  # shown on the clinician's clock, like every time here
        }
    return result


@clinician_required
def triage(request):
    teams = [m.team for m in TeamMembership.objects.filter(user=request.user).select_related("team")]
    form = TriageFilterForm(request.GET or None, teams=teams)
    data = form.cleaned_data if form.is_valid() else {}
    # The API's triage order, read along the (care_team, triage_key) index.
    patients = filtered(Patient.objects.in_triage_order(request.user), data).select_related("care_team")
    patients = patients.order_by("triage")
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    recent = recent_day_pain(list(page))
    rows = []
    for patient in page:
        status = getattr(patient, "status", None)
        word = trend_word(status.pain_7d_trend if status else None)
        # The row keeps yesterday's value until the next evaluation: "today" only if it is.
        today_pain = status.pain_today if status and status.pain_today_date == patient.local_today() else None
        rows.append(
            {
                "patient": patient,
                "status": status,
                "pain_today": today_pain,
                "trend_word": word,
                "spark": sparkline(recent[patient.pk]["values"], word),
                "today_at": recent[patient.pk]["today_at"],
            }
        )
    audit_read(request, [p.pk for p in page], 200)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop(POLL_PARAMETER, None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "poll_seconds": settings.CLINIC_POLL_SECONDS,
        "poll_parameter": POLL_PARAMETER,
        "refreshed_at": timezone.localtime(),
    }
    template = "clinic/triage.html#rows" if request.htmx else "clinic/triage.html"
    return render(request, template, context)
