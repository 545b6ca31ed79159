"""Write paths for care: every state change of users, patients, links and invites."""

from __future__ import annotations

from datetime import datetime
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
    create_patient_status(patient=patient)
    return patient


def create_patient_status(*, patient: Patient) -> PatientStatus:
    status = PatientStatus(patient=patient, care_team_id=patient.care_team_id)
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
        status, _ = PatientStatus.objects.get_or_create(
            patient=patient, defaults={"care_team_id": patient.care_team_id}
        )
        status.care_team_id = patient.care_team_id  # the triage index is by team
        status.refresh_triage_key(patient)
        status.save(update_fields=["care_team", "triage_key", "updated_at"])
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


@transaction.atomic(durable=True)
def enroll(*, code: str, username: str, password: str) -> tuple[User, Patient]:
    """Redeem an invite: create the account and its link, or change nothing at all.

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
    except IntegrityError as exc:
        raise ValidationError({"username": [_("This username is taken.")]}) from exc

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


def record_failed_login(*, user: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
    user.refresh_from_db(fields=["failed_logins"])
    if user.failed_logins >= settings.LOGIN_MAX_FAILURES:
        User.objects.filter(pk=user.pk).update(locked_until=now + settings.LOGIN_LOCKOUT, failed_logins=0)


def record_successful_login(*, user: User) -> None:
    if user.failed_logins or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
