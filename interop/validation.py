"""No resource leaves unvalidated: each is parsed by its fhir.resources R4B model (R4B is
wire-compatible with R4 for every resource Crossroad emits), then checked for what those
models do not enforce themselves: required codes of the element's value set
(`enum_values`) and the resource types a Reference may point at
(`enum_reference_types`)."""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

CLOSED_CODES = {"status", "intent", "priority", "actuality", "severity", "kind", "mode", "relation", "gender"}


class InvalidResource(ValueError):
    pass


@cache
def model_class(resource_type: str) -> type[BaseModel]:
    return get_fhir_model_class(resource_type)


def validate(resource: dict[str, Any]) -> dict[str, Any]:
    """Returns `resource` unchanged when valid; raises InvalidResource naming the fault."""
    try:
        model = model_class(resource["resourceType"]).model_validate(resource)
    except Exception as exc:
        raise InvalidResource(f"{resource.get('resourceType')}/{resource.get('id')}: {exc}") from exc
    faults = list(_faults(model, resource.get("resourceType", "")))
    if faults:
        raise InvalidResource(f"{resource['resourceType']}/{resource.get('id')}: " + "; ".join(faults))
    return resource


def _faults(model: BaseModel, path: str):
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        values = value if isinstance(value, list) else [value]
        # The models read `enum_values` from each element's short title, which is a closed
        # list only for required bindings like these ("a | b | c +" goes on elsewhere).
        allowed_codes = extra.get("enum_values") if name in CLOSED_CODES else None
        if allowed_codes and "+" in allowed_codes:
            allowed_codes = None
        allowed_types = extra.get("enum_reference_types")
        for item in values:
            where = f"{path}.{name}"
            if allowed_codes and isinstance(item, str) and item not in allowed_codes:
                yield f"{where}: {item!r} is not one of {allowed_codes}"
            if allowed_types and "Resource" not in allowed_types and isinstance(item, BaseModel):
                reference = getattr(item, "reference", None)
                if reference and not reference.startswith("#") and "/" in reference:
                    target = reference.split("/")[-2]
                    if target not in allowed_types:
                        yield f"{where}: a {target} reference where {allowed_types} may be"
            if isinstance(item, BaseModel):
                yield from _faults(item, where)
