"""The error shape of API.md for every 4xx: `{"errors": {"field.path": [...]}, "detail": "..."}`."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
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
