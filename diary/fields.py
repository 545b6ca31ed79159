"""Strict serializer fields for what phones send: integers that are integers, times with
offsets, codes from the catalog. Hostile and broken clients are normal here."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST_YEAR = 1900


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no strings, floats or booleans (`"7"`, `7.5` and `true` are errors)."""

    default_error_messages = {"invalid": _("A whole number is required.")}

    def run_validation(self, data=serializers.empty):
        # What phones send nearly always, a JSON integer in range, checked here directly
        # (DRF's path formats it as a string and matches a pattern first); anything else,
        # errors included, goes through DRF and its messages.
        if (
            type(data) is int
            and (self.min_value is None or data >= self.min_value)
            and (self.max_value is None or data <= self.max_value)
            and len(self.validators) == (self.min_value is not None) + (self.max_value is not None)
        ):
            return data
        return super().run_validation(data)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClientIdField(serializers.UUIDField):
    """A client-generated UUID, as a string: DRF would turn the integer 5 into
    00000000-0000-0000-0000-000000000005, an id the phone never made."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


SCORE_MIN, SCORE_MAX = 0, 10  # every NRS-style score of the diary


def score_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=SCORE_MIN, max_value=SCORE_MAX, **kwargs)


class ObservedAtField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset, not more than 10 minutes ahead of the server clock."""

    default_error_messages = {
        "naive": _("Include the UTC offset (for example 2026-03-29T08:30:00+02:00)."),
        "future": _("This time is more than 10 minutes in the future."),
        "too_early": _("This is before the patient's enrollment date."),
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid", format="ISO 8601")
        if parsed.tzinfo is None:
            self.fail("naive")
        # Long before any enrollment, and far enough from year 1 that converting it to UTC
        # or to any IANA zone cannot overflow (a 500 on "0001-01-01T00:00:00+05:00").
        if parsed.year < EARLIEST_YEAR:
            self.fail("too_early")
        if parsed > timezone.now() + FUTURE_TOLERANCE:
            self.fail("future")
        return parsed


class CodeListField(serializers.ListField):
    """A list of distinct catalog codes."""

    default_error_messages = {
        "unknown": _("Unknown code “{code}”."),
        "duplicate": _("Code “{code}” appears twice."),
    }

    def __init__(self, codes: Collection[str], **kwargs):
        self.codes = codes
        kwargs.setdefault("max_length", len(codes))
        super().__init__(child=serializers.CharField(max_length=60), **kwargs)

    def run_validation(self, data=serializers.empty):
        # A list of distinct known codes, as the app sends it, is accepted here directly;
        # anything else (errors included) takes DRF's path.
        if (
            type(data) is list
            and (data or self.allow_empty)
            and len(data) <= self.max_length
            and all(type(code) is str and code in self.codes for code in data)
            and len(set(data)) == len(data)
        ):
            return sorted(data)
        return super().run_validation(data)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        seen: set[str] = set()
        for value in values:
            if value not in self.codes:
                self.fail("unknown", code=value)
            if value in seen:
                self.fail("duplicate", code=value)
            seen.add(value)
        return sorted(values)


class ScoreMapField(serializers.Field):
    """`{code: score 0 to 10}` for catalog codes; errors are reported per code (`symptoms.nausea`)."""

    default_error_messages = {
        "not_a_dict": _("Expected an object of scores by code."),
        "unknown": _("Unknown code."),
    }

    def __init__(self, codes: Collection[str], **kwargs):
        self.codes = codes
        self.score = score_field()
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        errors: dict[str, list[str]] = {}
        values: dict[str, int] = {}
        for code, raw in data.items():
            if code not in self.codes:
                errors[code] = [str(self.error_messages["unknown"])]
                continue
            if raw is None:
                continue
            try:
                values[code] = self.score.run_validation(raw)
            except serializers.ValidationError as exc:
                errors[code] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return dict(sorted(values.items()))

    def to_representation(self, value):
        return value


SCORE_MAP_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10},
}
extend_schema_field(SCORE_MAP_SCHEMA)(ScoreMapField)
