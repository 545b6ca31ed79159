"""List pagination of API.md: `{"next", "previous", "results"}` with opaque cursors."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class CursorPagination(pagination.CursorPagination):
    """Stable under inserts (phones page while syncing)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "id")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


class KeysetPagination(pagination.BasePagination):
    """A cursor over every ordering field, not just the first.

    DRF's CursorPagination positions on the first field and walks ties by offset (capped
    at 1,000), so a list ordered by a coarse field (severity) stops paging. Here the
    cursor holds the last row's values of all the fields, and the next page is the rows
    after them in lexicographic order. The last field must be unique (the id).
    """

    ordering: tuple[str, ...] = ("id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"
    invalid_cursor = _("Invalid cursor")

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self.page_size
        if self.page_size_query_param in request.query_params:
            with contextlib.suppress(ValueError):
                size = min(max(int(request.query_params[self.page_size_query_param]), 1), self.max_page_size)
        cursor = self.decode(request.query_params.get(self.cursor_query_param))
        backwards = cursor is not None and cursor[0] == "before"
        ordering = [self.flip(f) for f in self.ordering] if backwards else list(self.ordering)
        rows = queryset.order_by(*ordering)
        if cursor is not None:
            rows = rows.filter(self.beyond(ordering, cursor[1]))
        page = list(rows[: size + 1])
        more = len(page) > size
        page = page[:size]
        if backwards:
            page.reverse()
        self.page = page
        self.has_next = more if not backwards else True
        self.has_previous = more if backwards else cursor is not None
        return page

    @staticmethod
    def flip(field: str) -> str:
        return field[1:] if field.startswith("-") else f"-{field}"

    @staticmethod
    def beyond(ordering: list[str], values: list[Any]) -> Q:
        """Rows after `values` in `ordering`: (a > x) or (a = x and b > y) or ..."""
        condition = Q(pk__in=[])
        for i, field in enumerate(ordering):
            name, op = field.lstrip("-"), "lt" if field.startswith("-") else "gt"
            step = Q(**{f"{name}__{op}": values[i]})
            for earlier, value in zip(ordering[:i], values[:i], strict=False):
                step &= Q(**{earlier.lstrip("-"): value})
            condition |= step
        return condition

    def values(self, row) -> list[Any]:
        return [_plain(getattr(row, field.lstrip("-"))) for field in self.ordering]

    def encode(self, direction: str, row) -> str:
        raw = json.dumps([direction, self.values(row)], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode()

    def decode(self, raw: str | None) -> tuple[str, list[Any]] | None:
        if not raw:
            return None
        try:
            direction, values = json.loads(base64.urlsafe_b64decode(raw.encode()))
        except (ValueError, TypeError):
            raise NotFound(self.invalid_cursor) from None
        if (
            direction not in ("after", "before")
            or not isinstance(values, list)
            or len(values) != len(self.ordering)
        ):
            raise NotFound(self.invalid_cursor)
        return direction, values

    def link(self, direction: str, row) -> str:
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.encode(direction, row))

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self.link("after", self.page[-1]) if self.has_next and self.page else None,
                "previous": self.link("before", self.page[0]) if self.has_previous and self.page else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return pagination.CursorPagination().get_paginated_response_schema(schema)
