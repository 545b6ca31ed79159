"""Bundles of mapped resources: the `collection` of `patients/{id}/fhir/` and `me/export/`,
and the `searchset` pages of the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from care.models import Patient
from interop.mapping.common import Resource, fhir_base
from interop.mapping.everything import patient_resources
from interop.validation import validate


def full_url(resource: Resource) -> str:
    return f"{fhir_base()}/{resource['resourceType']}/{resource['id']}"


def _shell(bundle: dict[str, Any]) -> dict[str, Any]:
    """Validates the Bundle itself; its entries' resources were validated one by one."""
    validate({**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in bundle["entry"]]})
    return bundle


def collection_bundle(patient: Patient) -> dict[str, Any]:
    entries = [{"fullUrl": full_url(r), "resource": r} for r in patient_resources(patient)]
    return _shell(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": timezone.now().isoformat(),
            "entry": entries,
        }
    )


def searchset_bundle(
    resources: Iterable[Resource], *, self_url: str, next_url: str | None, total: int | None = None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timezone.now().isoformat(),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [{"fullUrl": full_url(r), "resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    if total is not None:
        bundle["total"] = total
    return _shell(bundle)
