"""Write paths of the interop app."""

from __future__ import annotations

from django.db import transaction

from care.models import CareTeam, User
from interop.models import FhirEndpoint, SystemClient

SYSTEM_ROLE = "system"  # not a Role choice on purpose: such a user sees no patient in /api/v1/


@transaction.atomic(durable=True)
def register_system_client(*, name: str, teams: list[CareTeam], jwks: dict, jwks_url: str) -> SystemClient:
    """Create or update a system client by name (idempotent)."""
    client = SystemClient.objects.select_for_update().filter(name=name).first()
    if client is None:
        user = User(username=f"system-client:{name}"[:150], role=SYSTEM_ROLE, is_active=True)
        user.set_unusable_password()
        user.save()
        client = SystemClient(name=name, user=user)
    client.jwks = jwks
    client.jwks_url = jwks_url
    client.is_active = True
    client.save()
    client.teams.set(teams)
    return client


@transaction.atomic(durable=True)
def save_fhir_endpoint(*, team: CareTeam, data: dict) -> FhirEndpoint:
    endpoint = FhirEndpoint.objects.select_for_update().filter(team=team).first() or FhirEndpoint(team=team)
    for name, value in data.items():
        setattr(endpoint, name, value)
    endpoint.save()
    return endpoint
