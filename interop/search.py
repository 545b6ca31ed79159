"""FHIR searches over one patient's records, paged by Bundle `link` `next`.

A search reads one or more sources (a table ordered by its moment and id); each row
expands into resources. The cursor names the source, the last row's (moment, id) and how
many of its resources were already sent, so a page costs one query per source read
plus the patient's context, however large the page or the history.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from care.models import Patient
from interop.mapping.common import People, Resource
from interop.validation import validate

DEFAULT_COUNT = 50
MAX_COUNT = 200


class SearchError(ValueError):
    """A search parameter the server cannot honour (answered 400 with an OperationOutcome)."""


@dataclass
class Context:
    """What expanding a row needs about the patient, loaded once per page."""

    patient: Patient
    people: People
    links: list
    _cache: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, load: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]


@dataclass(frozen=True)
class Source:
    name: str
    rows: Callable[[Context], QuerySet]
    expand: Callable[[Any, Context], list[Resource]]
    moment: str = "recorded_at"  # the ordering field; ties broken by `id`


def _key(row: Any, source: Source) -> tuple[str, str]:
    if isinstance(row, dict):  # a day's aggregate is named by its day
        return row[source.moment].isoformat(), row[source.moment].isoformat()
    return getattr(row, source.moment).isoformat(), str(row.pk)


def encode_cursor(source: int, key: tuple[str, str], skip: int) -> str:
    raw = json.dumps([source, key[0], key[1], skip]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, tuple[str, str] | None, int]:
    try:
        source, moment, pk, skip = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(source), (str(moment), str(pk)), int(skip)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SearchError("invalid page cursor") from exc


def _after(rows: QuerySet, source: Source, key: tuple[str, str]) -> QuerySet:
    if source.moment == "local_date":  # a day's aggregate row is named by its day
        return rows.filter(local_date__gte=parse_date(key[0]))
    moment = parse_datetime(key[0])
    return rows.filter(
        Q(**{f"{source.moment}__gt": moment}) | Q(**{source.moment: moment, "id__gte": key[1]})
    )


def run(
    sources: list[Source], ctx: Context, *, count: int, cursor: str | None
) -> tuple[list[Resource], str | None]:
    """One page of `count` resources at most, and the cursor of the next page (or None)."""
    start, key, skip = decode_cursor(cursor) if cursor else (0, None, 0)
    out: list[Resource] = []
    for index in range(start, len(sources)):
        source = sources[index]
        rows = source.rows(ctx)
        if index == start and key is not None:
            rows = _after(rows, source, key)
        batch = list(rows[: count + 1])
        for position, row in enumerate(batch):
            resources = source.expand(row, ctx)
            first = (
                skip
                if (index == start and key is not None and position == 0 and _key(row, source) == key)
                else 0
            )
            for offset in range(first, len(resources)):
                if len(out) == count:
                    return out, encode_cursor(index, _key(row, source), offset)
                out.append(validate(resources[offset]))
        if len(batch) > count:
            # Rows that expanded to nothing used up the batch: go on from the last one.
            last = batch[-1]
            return out, encode_cursor(index, _key(last, source), len(source.expand(last, ctx)))
        key, skip = None, 0
    return out, None


# --- search parameters -------------------------------------------------------------------


def parse_dates(values: list[str]) -> list[tuple[str, datetime | date]]:
    """`date=ge2026-01-01&date=lt2026-02-01T00:00:00+00:00` as (prefix, moment) pairs."""
    out = []
    for value in values:
        prefix = value[:2] if value[:2] in ("eq", "ne", "gt", "lt", "ge", "le") else "eq"
        raw = value[2:] if value[:2] == prefix else value
        moment = parse_datetime(raw) if "T" in raw else parse_date(raw)
        if moment is None or prefix == "ne":
            raise SearchError(f"unsupported date {value!r}")
        if isinstance(moment, datetime) and moment.tzinfo is None:
            raise SearchError(f"a date-time needs its offset: {value!r}")
        out.append((prefix, moment))
    return out


def date_filter(field_name: str, dates: list[tuple[str, datetime | date]], *, is_date: bool = False) -> Q:
    q = Q()
    for prefix, moment in dates:
        if isinstance(moment, datetime) and is_date:
            moment = moment.date()
        lookup = (
            f"{field_name}__date"
            if isinstance(moment, date) and not isinstance(moment, datetime) and not is_date
            else field_name
        )
        if prefix == "eq":
            q &= Q(**{lookup: moment})
        else:
            op = {"gt": "gt", "lt": "lt", "ge": "gte", "le": "lte"}[prefix]
            q &= Q(**{f"{lookup}__{op}": moment})
    return q


def parse_token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, code = value.split("|", 1)
        return system or None, code
    return None, value
