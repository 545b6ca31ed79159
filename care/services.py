"""Write paths for care: every state change of users, patients, links and invites."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from care.models import (
    AccessEvent,
    CaregiverLink,
    CareTeam,
    Device,
    Invite,
    Patient,
    PatientStatus,
    Role,
    TeamMembership,
    User,
    hash_invite_code,
    new_invite_code,
)

INVALID_CODE = _("This code is not valid. Ask your care team for a new one.")


@transaction.atomic
def create_clinician(
    *, username: str, password: str, team_name: str, team_role: str, email: str = ""
) -> User:
    team, _ = CareTeam.objects.get_or_create(name=team_name)
    user = User.objects.filter(username=username).first() or User(username=username)
    user.role = Role.CLINICIAN
    user.email = email or user.email
    user.set_password(password)
    user.save()
    TeamMembership.objects.update_or_create(team=team, user=user, defaults={"team_role": team_role})
    return user


@transaction.atomic
def create_patient(*, data: dict[str, Any]) -> Patient:
    patient = Patient(**data)
    if patient.enrolled_on is None:
        patient.enrolled_on = patient.local_today()
    patient.save()
    save_patient_status(patient=patient)
    return patient


def save_patient_status(*, patient: Patient, values: dict[str, Any] | None = None) -> PatientStatus:
    """The one writer of the triage row: the alerts app hands in what it computed from
    alerts, referrals and the diary (alerts.status); the team and the sort key are derived
    here, always.

    With every input of the key handed in, one UPDATE; otherwise the row is read first."""
    # The triage list reads the rows of a team in key order (the care_team, triage_key index).
    values = {**(values or {}), "care_team_id": patient.care_team_id}
    if set(PatientStatus.KEY_FIELDS) <= set(values):
        status = PatientStatus(patient=patient, **values)
        status.refresh_triage_key(patient)
        fields = {**values, "triage_key": status.triage_key, "updated_at": timezone.now()}
        if PatientStatus.objects.filter(patient=patient).update(**fields):
            status._state.adding = False
            return status
    status = PatientStatus.objects.filter(patient=patient).first() or PatientStatus(patient=patient)
    for field, value in values.items():
        setattr(status, field, value)
    status.refresh_triage_key(patient)
    status.save()
    return status


@transaction.atomic
def update_patient(*, patient: Patient, data: dict[str, Any]) -> Patient:
    for field, value in data.items():
        setattr(patient, field, value)
    patient.save(update_fields=[*data, "updated_at"])
    # The patient's zone and language are also their account's (me/, notifications).
    shared = {k: v for k, v in data.items() if k in ("timezone", "language")}
    if shared and patient.user_id:
        User.objects.filter(pk=patient.user_id).update(**shared)
    if "display_name" in data or "care_team" in data:
        save_patient_status(patient=patient)
    return patient


def issue_invite(
    *,
    patient: Patient,
    by: User,
    role: str,
    relationship: str = "",
    can_view: bool = True,
    can_report: bool = True,
) -> tuple[Invite, str]:
    """Create a one-time invite; the plain code is returned once and never stored."""
    code = new_invite_code()
    invite = Invite.objects.create(
        patient=patient,
        role=role,
        code_hash=hash_invite_code(code),
        relationship=relationship,
        can_view=can_view,
        can_report=can_report,
        created_by=by,
        expires_at=timezone.now() + settings.INVITE_LIFETIME,
    )
    return invite, code


@transaction.atomic
def reissue_invite(*, patient: Patient, by: User) -> tuple[Invite, str]:
    """A new code for the patient's own app; the unused codes issued before stop working
    (a lost or misheard code must not stay valid beside the new one)."""
    now = timezone.now()
    Invite.objects.filter(
        patient=patient, role=Role.PATIENT, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    return issue_invite(patient=patient, by=by, role=Role.PATIENT)


# Usernames an invite may find taken before it is spent: enough for a person choosing a
# name, too few to probe which accounts exist (issue 8, item 11).
INVITE_MAX_TAKEN_USERNAMES = 3


class _UsernameTaken(Exception):
    def __init__(self, invite_id):
        self.invite_id = invite_id


def enroll(*, code: str, username: str, password: str) -> tuple[User, Patient]:
    """Redeem an invite (see `_redeem`). A taken username is counted on the invite, after
    the rolled-back attempt, and the invite is spent at INVITE_MAX_TAKEN_USERNAMES."""
    try:
        return _redeem(code=code, username=username, password=password)
    except _UsernameTaken as taken:
        Invite.objects.filter(pk=taken.invite_id).update(taken_usernames=F("taken_usernames") + 1)
        Invite.objects.filter(pk=taken.invite_id, taken_usernames__gte=INVITE_MAX_TAKEN_USERNAMES).update(
            expires_at=timezone.now()
        )
        raise ValidationError({"username": [_("This username is taken.")]}) from None


@transaction.atomic(durable=True)
def _redeem(*, code: str, username: str, password: str) -> tuple[User, Patient]:
    """Create the account and its link, or change nothing at all.

    The invite is claimed with a conditional update so that two phones racing with the
    same code cannot both succeed; used, expired and unknown codes fail the same way.
    """
    now = timezone.now()
    invite = (
        Invite.objects.select_for_update()
        .select_related("patient")
        .filter(code_hash=hash_invite_code(code), used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if invite is None or (invite.role == Role.PATIENT and invite.patient.user_id is not None):
        raise ValidationError({"code": [INVALID_CODE]})

    user = User(username=username, role=invite.role, language=invite.patient.language)
    if invite.role == Role.PATIENT:
        user.timezone = invite.patient.timezone
    try:
        validate_password(password, user)
    except Exception as exc:  # django.core.exceptions.ValidationError
        raise ValidationError({"password": list(exc.messages)}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise _UsernameTaken(invite.pk) from None

    claimed = Invite.objects.filter(pk=invite.pk, used_at__isnull=True).update(used_at=now, used_by=user)
    if claimed != 1:
        raise ValidationError({"code": [INVALID_CODE]})

    patient = invite.patient
    if invite.role == Role.PATIENT:
        patient.user = user
        patient.activated_at = now
        patient.save(update_fields=["user", "activated_at", "updated_at"])
    else:
        CaregiverLink.objects.create(
            patient=patient,
            caregiver=user,
            relationship=invite.relationship,
            can_view=invite.can_view,
            can_report=invite.can_report,
        )
    return user, patient


def update_caregiver_link(*, link: CaregiverLink, data: dict[str, bool]) -> CaregiverLink:
    for field, value in data.items():
        setattr(link, field, value)
    link.save(update_fields=list(data))
    return link


def revoke_caregiver_link(*, link: CaregiverLink) -> CaregiverLink:
    link.revoke()
    return link


def register_device(*, user: User, platform: str, token: str) -> Device:
    device, _ = Device.objects.update_or_create(token=token, defaults={"user": user, "platform": platform})
    return device


def remove_device(*, token: str, user: User | None = None) -> int:
    """The phone stops receiving pushes: DELETE devices/ (its own user only), or a push
    service saying the subscription is gone (user None). Returns the rows removed."""
    devices = Device.objects.filter(token=token)
    if user is not None:
        devices = devices.filter(user=user)
    removed, _ = devices.delete()
    return removed


def update_profile(*, user: User, data: dict[str, Any]) -> User:
    """PATCH me/: a patient's zone and language are the patient record's own."""
    patient = getattr(user, "patient", None) if user.role == Role.PATIENT else None
    if not data:
        return user
    with transaction.atomic():
        for field, value in data.items():
            setattr(user, field, value)
        # Only the fields asked for: a full save would write back stale login counters.
        user.save(update_fields=list(data))
        shared = {k: v for k, v in data.items() if k in ("timezone", "language")}
        if patient is not None and shared:
            update_patient(patient=patient, data=shared)
    return user


def revoke_refresh_tokens(*, user: User) -> int:
    """Blacklist every refresh token the user still holds (logout everywhere)."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in outstanding]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def change_password(*, user: User, new_password: str) -> User:
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoke_refresh_tokens(user=user)
    return user


def withdraw_patient(*, patient: Patient, client_ip: str | None = None) -> Patient:
    """In the caller's transaction: close the patient's account (every token dies with
    it), revoke caregiver links, drop devices and unused invites, replace what identifies
    them by a pseudonym, and stop collection. The erasure itself is audited."""
    now = timezone.now()
    user = patient.user
    revoke_refresh_tokens(user=user)
    user.devices.all().delete()
    for link in CaregiverLink.objects.active().filter(patient=patient):
        link.revoke()
    Invite.objects.filter(patient=patient, used_at__isnull=True).delete()

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
