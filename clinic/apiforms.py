"""Clinic forms validate with the API's own serializers, so that a field refused by
`POST patients/` or `alert-rules/` is refused here with the same words.

The Django form only collects what was typed (and renders it with labels, help and the
error summary); the serializer decides. Its errors land on the form field of the same
name; nested ones (`idds.lockout_minutes`, `params.min_pain`) on the field named
`idds_lockout_minutes`, `params_min_pain`, else on the form as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from rest_framework import serializers


def flatten_errors(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(detail, dict):
        pairs = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            pairs += flatten_errors(value, f"{prefix}_{name}" if prefix and name else (name or prefix))
        return pairs
    if isinstance(detail, list):
        pairs = []
        for index, item in enumerate(detail):
            # A list serializer's errors are one dict per item: keep the item's index.
            item_prefix = f"{prefix}_{index}" if isinstance(item, dict) else prefix
            pairs += flatten_errors(item, item_prefix)
        return pairs
    return [(prefix, str(detail))]


def validate_with(
    form: forms.Form, serializer: serializers.Serializer, rename: Callable[[str], str] | None = None
) -> dict | None:
    """The serializer's validated data, or None with its messages added to the form
    (`rename` maps an error's flattened name to the form's field name)."""
    if serializer.is_valid():
        return serializer.validated_data
    for name, message in flatten_errors(serializer.errors):
        name = rename(name) if rename else name
        form.add_error(name if name in form.fields else None, message)
    return None
