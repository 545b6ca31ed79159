"""Insert-or-ignore for the diary's record tables: the statement `sync/` spends most of its
time in, so on PostgreSQL it skips the ORM's insert compiler.

`INSERT ... ON CONFLICT DO NOTHING RETURNING id` for every record of one type, answering the
ids this statement inserted (a row whose id was stored already returns none).
`bulk_create(ignore_conflicts=True)` returns nothing, hence this module.

- PostgreSQL: one prepared-shape statement per row, sent together through psycopg's
  pipeline (`executemany(..., returning=True)`), values bound on the server: what raw
  `executemany` costs, with no SQL compiled per request. The statement and the way to turn
  each field's value into a parameter are worked out once per model.
- Other databases (SQLite in development): the ORM's own insert, compiled with the
  returned id, in the batches the database allows.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Field
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from diary.models import DiaryRecord

# Fields whose get_db_prep_save() on PostgreSQL hands a value of the field's own Python type
# to psycopg unchanged (tests/test_diary_inserts.py checks every field of every record type
# against Django's own preparation). Any other field is prepared by Django, value by value.
PASSED_AS_IS = frozenset(
    {
        "UUIDField",
        "ForeignKey",
        "CharField",
        "TextField",
        "BooleanField",
        "DateField",
        "DateTimeField",
        "DecimalField",
        "FloatField",
        "IntegerField",
        "SmallIntegerField",
        "BigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
    }
)


def insert_or_ignore(model: type[DiaryRecord], records: list[DiaryRecord]) -> set[uuid.UUID]:
    """Insert the records that are new, skip the others: the ids inserted."""
    if not records:
        return set()
    if connection.vendor == "postgresql":
        return _insert_pipelined(model, records)
    return _insert_compiled(model, records)


def _insert_pipelined(model: type[DiaryRecord], records: list[DiaryRecord]) -> set[uuid.UUID]:
    statement = _statement(model)
    rows = [statement.row(record) for record in records]
    connection.ensure_connection()
    raw = _ReturningCursor(connection.connection)
    # Django's own wrapper: its error translation, execute wrappers and query log.
    cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    inserted: set[uuid.UUID] = set()
    with cursor:
        cursor.executemany(statement.sql, rows)
        while True:
            inserted.update(pk for (pk,) in cursor.fetchall())
            if not cursor.nextset():
                break
    return inserted


@dataclass(frozen=True)
class _Statement:
    """The insert of one row of a model, and how a record becomes its parameters: every
    column's attribute read at once, then the few that Django must prepare replaced."""

    sql: str
    attnames: tuple[str, ...]
    prepared: tuple[tuple[int, Callable[[DiaryRecord], Any]], ...]

    @cached_property
    def read(self) -> Callable[[DiaryRecord], tuple]:
        return operator.attrgetter(*self.attnames)

    def row(self, record: DiaryRecord) -> tuple | list:
        values = self.read(record)
        if not self.prepared:
            return values
        values = list(values)
        for index, prepare in self.prepared:
            values[index] = prepare(record)
        return values


@functools.cache
def _statement(model: type[DiaryRecord]) -> _Statement:
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    # Names from the model, quoted; every value is a bound parameter.
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING {}".format(  # noqa: S608
        quote(model._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
        quote(model._meta.pk.column),
    )
    preparations = ((index, _preparation(field)) for index, field in enumerate(fields))
    return _Statement(
        sql=sql,
        attnames=tuple(f.attname for f in fields),
        prepared=tuple((index, prepare) for index, prepare in preparations if prepare is not None),
    )


def _preparation(field: Field) -> Callable[[DiaryRecord], Any] | None:
    """How Django prepares this column's value (None: it is passed as it is)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda record: field.get_db_prep_save(field.pre_save(record, add=True), connection)
    if field.get_internal_type() in PASSED_AS_IS:
        return None
    return lambda record: field.get_db_prep_save(getattr(record, field.attname), connection)


class _ReturningCursor(psycopg.Cursor):
    """A psycopg cursor binding values on the server whose executemany() keeps the rows each
    statement returns (read with fetchall() and nextset())."""

    def executemany(self, query, params_seq):
        return super().executemany(query, params_seq, returning=True)


def _insert_compiled(model: type[DiaryRecord], records: list[DiaryRecord]) -> set[uuid.UUID]:
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    size = connection.ops.bulk_batch_size(fields, records) or len(records)
    inserted: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(records), size):
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, records[start : start + size])
            compiler = query.get_compiler(connection=connection)
            compiler.returning_fields = [model._meta.pk]
            for statement, params in compiler.as_sql():
                cursor.execute(statement, params)
                # A uuid from PostgreSQL, 32 hex digits from SQLite.
                inserted.update(uuid.UUID(str(pk)) for (pk,) in cursor.fetchall())
    return inserted
