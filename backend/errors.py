"""The error shape of API.md for every 4xx: `{"errors": {"field.path": [...]}, "detail": "..."}`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into flat field paths (`interference.walking`)."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def exception_handler(exc: Exception, context: dict) -> Any:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"errors": flatten_errors(exc.detail), "detail": _("Invalid input.")}
    elif isinstance(exc, exceptions.ParseError):
        response.data = {"errors": {"body": [str(exc.detail)]}, "detail": str(exc.detail)}
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler404`: an unknown URL under /api/ answers in the API's JSON shape, as a
    malformed id does; other pages keep Django's."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    if request.path.startswith("/fhir/"):
        # FHIR clients read an OperationOutcome (the FHIR API's own error shape).
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
        return JsonResponse(outcome, status=404, content_type="application/fhir+json")
    return page_not_found(request, exception)


_Errors = inline_serializer(
    "ValidationErrorBody",
    fields={
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        "detail": serializers.CharField(),
    },
)
_Detail = inline_serializer("ErrorDetail", fields={"detail": serializers.CharField()})

ERROR_RESPONSES = {
    400: OpenApiResponse(_Errors, description="Invalid input; nothing was stored."),
}


def detail_response(description: str) -> OpenApiResponse:
    """A documented error answer whose body is `{"detail": "..."}`."""
    return OpenApiResponse(_Detail, description=description)


THROTTLED_RESPONSES = {429: detail_response("Too many attempts from this address; see Retry-After.")}

_DETAIL_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_ERRORS_SCHEMA = {
    "type": "object",
    "properties": {
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "detail": {"type": "string"},
    },
    "required": ["errors", "detail"],
}
_GENERIC_ERRORS = {
    "400": ("ValidationErrorBody", "Invalid input; nothing was stored."),
    "401": ("ErrorDetail", "Not authenticated, or the token is invalid, expired or revoked."),
    "403": ("ErrorDetail", "Authenticated, but not allowed to do this."),
    "404": ("ErrorDetail", "Not found, or not visible to the caller."),
    "413": ("ErrorDetail", "The request body is too large."),
}
# Query parameters of cursor pagination: a bad cursor is a 404, a bad page size is ignored.
_PAGINATION_PARAMETERS = {"cursor", "page_size"}


def possible_errors(operation: dict) -> list[str]:
    """The error statuses any operation of this shape can answer, read from its schema."""
    security = operation.get("security") or []
    parameters = operation.get("parameters") or []
    query = {p["name"] for p in parameters if p.get("in") == "query"}
    has_body = "requestBody" in operation
    statuses = []
    if has_body or query - _PAGINATION_PARAMETERS:
        statuses.append("400")
    if any(requirement for requirement in security):  # a bad token is refused even where optional
        statuses.append("401")
    if security and {} not in security:  # authorization is decided in code, per object
        statuses.append("403")
    if any(p.get("in") == "path" for p in parameters) or query or has_body:
        statuses.append("404")  # an id in the path, a query or a body names something hidden
    if has_body:
        statuses.append("413")  # backend.middleware.BodySizeLimitMiddleware
    return statuses


def document_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: every operation documents its error bodies.

    Views still declare what only they know (a 409, a 429); this adds the answers every
    endpoint of the same shape can give, so that the schema never contradicts the API.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", _DETAIL_SCHEMA)
    schemas.setdefault("ValidationErrorBody", _ERRORS_SCHEMA)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status in possible_errors(operation):
                name, description = _GENERIC_ERRORS[status]
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    },
                )
    return result
