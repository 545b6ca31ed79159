"""Team settings and the access log, for team administrators only (a nurse gets 403):
per-rule thresholds for the team and per patient, escalation tiers and timeouts, the
paging webhook and its secret, the digest hour. Validation by the API's serializers,
writes by its write paths (save_rule_config, save_escalation_policy)."""

from __future__ import annotations

import re
import secrets

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.actions.config import save_escalation_policy, save_rule_config
from alerts.models import AlertRuleConfig, EscalationPolicy, default_tiers
from alerts.rules import RULES
from alerts.serializers import AlertRuleConfigSerializer, EscalationPolicySerializer
from care.models import AccessEvent, CareTeam, Patient, User
from clinic.apiforms import validate_with
from clinic.context import admin_teams
from clinic.forms import AccessLogFilterForm, DigestForm, EscalationForm, RuleConfigForm, WebhookForm
from clinic.signin import clinician_required


def administered_team(request) -> tuple[CareTeam, list[CareTeam]]:
    """The team asked for (?team= or the form's `team`), among those this clinician
    administers: none at all is 403, another team 404."""
    teams = admin_teams(request.user)
    if not teams:
        raise PermissionDenied
    wanted = request.POST.get("team") or request.GET.get("team")
    if not wanted:
        return teams[0], teams
    for team in teams:
        if str(team.pk) == wanted:
            return team, teams
    raise Http404


def team_patient(team: CareTeam, patient_id: str | None) -> Patient | None:
    if not patient_id:
        return None
    patient = Patient.objects.filter(care_team=team, pk=patient_id).first() if is_uuid(patient_id) else None
    if patient is None:
        raise Http404
    return patient


def is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def settings_url(team: CareTeam, patient: Patient | None = None, anchor: str = "") -> str:
    url = f"{reverse('clinic:team_settings')}?team={team.pk}"
    if patient is not None:
        url += f"&patient={patient.pk}"
    return url + (f"#{anchor}" if anchor else "")


def rule_forms(team: CareTeam, patient: Patient | None, bound: RuleConfigForm | None = None) -> list[dict]:
    configs = {c.rule: c for c in AlertRuleConfig.objects.filter(care_team=team, patient=patient)}
    team_defaults = (
        {c.rule: c for c in AlertRuleConfig.objects.filter(care_team=team, patient__isnull=True)}
        if patient
        else configs
    )
    rows = []
    for code in RULES:
        config = configs.get(code)
        if bound is not None and bound.rule == code:
            form = bound
        else:
            initial = {"enabled": config.enabled if config else True}
            initial.update({f"params_{k}": v for k, v in (config.params if config else {}).items()})
            form = RuleConfigForm(rule=code, initial=initial, prefix=code)
        inherited = team_defaults.get(code) if patient else None
        rows.append(
            {"code": code, "label": RULES[code].label, "form": form, "config": config, "inherited": inherited}
        )
    return rows


def render_settings(
    request,
    team,
    teams,
    patient=None,
    *,
    rule_form=None,
    escalation_form=None,
    webhook_form=None,
    digest_form=None,
    new_secret=None,
    status=200,
):
    policy = EscalationPolicy.objects.filter(team=team).first()
    tiers = policy.tiers if policy else default_tiers()
    context = {
        "team": team,
        "teams": teams,
        "patient": patient,
        "patients": Patient.objects.filter(care_team=team, withdrawn_at__isnull=True).order_by(
            "display_name"
        ),
        "rules": rule_forms(team, patient, rule_form),
        "overrides": AlertRuleConfig.objects.filter(care_team=team, patient__isnull=False).select_related(
            "patient"
        ),
        "policy": policy,
        "escalation_form": escalation_form or EscalationForm(initial=EscalationForm.initial_for(tiers)),
        "webhook_form": webhook_form
        or WebhookForm(initial={"webhook_url": policy.webhook_url if policy else ""}),
        "digest_form": digest_form
        or DigestForm(
            initial={
                "digest_hour": policy.digest_hour if policy else 8,
                "digest_timezone": policy.digest_timezone if policy else request.user.timezone,
            }
        ),
        "new_secret": new_secret,
        "open_rule": rule_form.rule if rule_form is not None else None,
    }
    return render(request, "clinic/team_settings.html", context, status=status)


@clinician_required
def team_settings(request):
    team, teams = administered_team(request)
    return render_settings(request, team, teams, team_patient(team, request.GET.get("patient")))


@require_POST
@clinician_required
def save_rule(request):
    team, teams = administered_team(request)
    patient = team_patient(team, request.POST.get("patient"))
    rule = request.POST.get("rule")
    if rule not in RULES:
        raise Http404
    form = RuleConfigForm(request.POST, rule=rule, prefix=rule)
    if form.is_valid():
        config = AlertRuleConfig.objects.filter(care_team=team, patient=patient, rule=rule).first()
        body = {
            "rule": rule,
            "care_team": str(team.pk),
            "patient": str(patient.pk) if patient else None,
            "enabled": form.cleaned_data["enabled"],
            "params": form.params(),
        }
        serializer = AlertRuleConfigSerializer(config, data=body, context={"request": request})
        data = validate_with(form, serializer)
        if data is not None:
            save_rule_config(config=config, data=data)
            messages.success(request, _("Thresholds of “%(rule)s” saved.") % {"rule": RULES[rule].label})
            return redirect(settings_url(team, patient, f"rule-{rule}"))
    return render_settings(request, team, teams, patient, rule_form=form)


def policy_serializer(team: CareTeam, data: dict) -> EscalationPolicySerializer:
    """`PUT teams/{id}/escalation-policy/`'s validation, for the part of it a form changes."""
    policy = EscalationPolicy.objects.filter(team=team).first()
    return EscalationPolicySerializer(policy, data=data, partial=True, context={"team": team})


def tier_field(name: str) -> str:
    """`tiers_1_timeout_minutes_urgent` -> `tier1_urgent`; `tiers_0.recipients` -> `tier0_roles`.
    The form leaves out empty rows, so a row's index is the tier's only while no row
    above it is empty, which is how the form is filled in."""
    match = re.match(r"tiers_(\d+)[_.](recipients|timeout_minutes)(?:[_.](urgent|warning))?", name)
    if not match:
        return name
    index, part, severity = match.groups()
    return f"tier{index}_{severity}" if part == "timeout_minutes" and severity else f"tier{index}_roles"


@require_POST
@clinician_required
def save_escalation(request):
    team, teams = administered_team(request)
    form = EscalationForm(request.POST)
    if form.is_valid():
        policy = EscalationPolicy.objects.filter(team=team).first()
        tiers = form.tiers(policy.tiers if policy else default_tiers())
        data = validate_with(form, policy_serializer(team, {"tiers": tiers}), rename=tier_field)
        if data is not None:
            save_escalation_policy(team_id=team.pk, data=data)
            messages.success(request, _("Escalation tiers saved."))
            return redirect(settings_url(team, anchor="escalation"))
    for message in form.errors.get("__all__", []):
        messages.error(request, message)
    return render_settings(request, team, teams, escalation_form=form)


@require_POST
@clinician_required
def save_webhook(request):
    team, teams = administered_team(request)
    form = WebhookForm(request.POST)
    new_secret = None
    if form.is_valid():
        policy = EscalationPolicy.objects.filter(team=team).first()
        body = {"webhook_url": form.cleaned_data["webhook_url"]}
        if body["webhook_url"] and not (policy and policy.webhook_secret):
            new_secret = body["webhook_secret"] = secrets.token_urlsafe(32)
        data = validate_with(form, policy_serializer(team, body))
        if data is not None:
            save_escalation_policy(team_id=team.pk, data=data)
            messages.success(request, _("Paging webhook saved."))
            if new_secret is None:
                return redirect(settings_url(team, anchor="webhook"))
            return render_settings(request, team, teams, new_secret=new_secret)
    return render_settings(request, team, teams, webhook_form=form)


@require_POST
@clinician_required
def rotate_webhook_secret(request):
    """A new signing secret, shown once; the receiver must be given it."""
    team, teams = administered_team(request)
    new_secret = secrets.token_urlsafe(32)
    save_escalation_policy(team_id=team.pk, data={"webhook_secret": new_secret})
    messages.success(request, _("New webhook secret made: give it to the receiver now."))
    return render_settings(request, team, teams, new_secret=new_secret)


@require_POST
@clinician_required
def save_digest(request):
    team, teams = administered_team(request)
    form = DigestForm(request.POST)
    if form.is_valid():
        body = {
            "digest_hour": form.cleaned_data["digest_hour"],
            "digest_timezone": form.cleaned_data["digest_timezone"],
        }
        data = validate_with(form, policy_serializer(team, body))
        if data is not None:
            save_escalation_policy(team_id=team.pk, data=data)
            messages.success(request, _("Digest hour saved."))
            return redirect(settings_url(team, anchor="digest"))
    return render_settings(request, team, teams, digest_form=form)


PAGE_SIZE = 50


@clinician_required
def access_log(request):
    """Who read which of the team's patients, when and what (AccessEvent rows)."""
    team, teams = administered_team(request)
    patients = list(Patient.objects.filter(care_team=team).order_by("display_name"))
    names = {str(p.pk): p.display_name for p in patients}
    readers = User.objects.filter(memberships__team=team).order_by("username")
    form = AccessLogFilterForm(request.GET or None, patients=patients, readers=readers)
    data = form.cleaned_data if form.is_valid() else {}
    # Events naming one of the team's patients; the ids are stored as a JSON list, so
    # this matches their text (a UUID matches nothing else).
    wanted = [data["patient"]] if data.get("patient") else list(names)
    events = AccessEvent.objects.none()
    if wanted:
        naming = Q()
        for pk in wanted:
            naming |= Q(patient_ids__icontains=pk)
        events = AccessEvent.objects.filter(naming).select_related("actor")
    if data.get("reader"):
        events = events.filter(actor_id=data["reader"])
    page = Paginator(events.order_by("-at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "event": event,
            "patients": [names[pk] for pk in event.patient_ids if pk in names],
            "others": sum(pk not in names for pk in event.patient_ids),
        }
        for event in page
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "team": team,
        "teams": teams,
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
    }
    return render(request, "clinic/access_log.html", context)
