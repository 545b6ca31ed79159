"""The CapabilityStatement of /fhir/metadata: exactly what interop/urls.py serves."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from interop.mapping.common import fhir_base
from interop.reads import READS
from interop.sources import SEARCHES
from interop.validation import validate

READ_ONLY = ["Patient", "Questionnaire", "CodeSystem", "Practitioner", "Subscription", *READS]
SMART_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def capability_statement() -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for resource_type in sorted(set(READ_ONLY) | set(SEARCHES)):
        entry: dict[str, Any] = {"type": resource_type, "interaction": []}
        if resource_type in READ_ONLY:
            entry["interaction"].append({"code": "read"})
        if resource_type in SEARCHES:
            entry["interaction"].append({"code": "search-type"})
            params = [{"name": name, "type": kind} for name, kind in SEARCHES[resource_type].items()]
            params += [{"name": "_count", "type": "number"}]
            entry["searchParam"] = params
        if resource_type == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    resources.append(
        {
            "type": "Group",
            "interaction": [{"code": "read"}],
            "operation": [
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
                }
            ],
        }
    )
    return validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-01",
            "publisher": "Crossroad",
            "kind": "instance",
            "software": {"name": "Crossroad"},
            "implementation": {"description": "Crossroad FHIR API", "url": fhir_base()},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "extension": [
                            {
                                "url": SMART_EXTENSION,
                                "extension": [
                                    {"url": "token", "valueUri": f"{settings.PUBLIC_URL}/fhir/auth/token"}
                                ],
                            }
                        ],
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                        "code": "SMART-on-FHIR",
                                    }
                                ]
                            }
                        ],
                        "description": "Bearer tokens: a Crossroad user's JWT, or a SMART Backend Services "
                        "system client's access token (Bulk Data export of its teams).",
                    },
                    "resource": resources,
                }
            ],
        }
    )
