from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone as django_timezone

from care.models import CaregiverLink, CareTeam, Patient, PatientStatus, Role, TeamMembership, TeamRole, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.PATIENT
    password = factory.django.Password(PASSWORD)


class CareTeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareTeam

    name = factory.Sequence(lambda n: f"Pain team {n}")


class ClinicianFactory(UserFactory):
    """`ClinicianFactory(team=t, team__team_role=TeamRole.NURSE)` makes a team member."""

    role = Role.CLINICIAN

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def team(self, create, extracted, team_role=TeamRole.PAIN_PHYSICIAN, **kwargs):
        if extracted is not None:
            TeamMembership.objects.create(team=extracted, user=self, team_role=team_role)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    care_team = factory.SubFactory(CareTeamFactory)
    user = factory.SubFactory(UserFactory, role=Role.PATIENT)
    display_name = factory.Sequence(lambda n: f"Patient {n}")
    timezone = "Europe/Rome"
    language = "en"
    enrolled_on = factory.LazyFunction(lambda: django_timezone.localdate() - timedelta(days=60))
    activated_at = factory.LazyFunction(django_timezone.now)

    @factory.post_generation
    def status(self, create, extracted, **kwargs):
        # Like care.services.create_patient: every patient has a triage row.
        if create:
            row = PatientStatus(patient=self, care_team_id=self.care_team_id)
            row.refresh_triage_key(self)
            row.save()


class CaregiverLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaregiverLink

    patient = factory.SubFactory(PatientFactory)
    caregiver = factory.SubFactory(UserFactory, role=Role.CAREGIVER)
    relationship = "daughter"
