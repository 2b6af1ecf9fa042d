"""Writes below the ORM's public API: rows and their simple-history rows in one or two
statements. Each function is tested equal to its plain counterpart in
``escalations.fastpath.plain`` (tests/integration/test_fastpath.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, connections, models, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

M = TypeVar("M", bound=models.Model)
# A row to insert: column values by attname; a foreign key may hold its parent's row.
Row = dict[str, Any]


def insert_with_history(objs: Sequence[M], *, actor) -> list[M]:
    """Insert new model instances of one model, each with its creation history row
    recording ``actor`` (what ``save()`` with simple-history writes: type "+", no change
    reason), in one statement however many rows. Fills in the primary keys.

    Equal to plain.insert_with_history (bulk_create + bulk_history_create). It skips what
    save() adds: the model signals, which nothing in this project listens to, and
    simple-history's construction of a manager and a historical instance per row."""
    if not objs:
        return []
    model = type(objs[0])
    using = model._default_manager.db
    db = connections[using]
    single_statement = (
        actor is not None and getattr(settings, "SIMPLE_HISTORY_ENABLED", True) and _history_model(model) is not None
    )
    for obj in objs:
        if obj.pk is not None:
            raise ValueError(f"insert_with_history() writes new rows only; {obj!r} has a primary key.")
    if not single_statement:
        # simple-history's own bulk path (the request's user when no actor is given); no
        # change reason, as save() records none.
        with transaction.atomic(using=using, savepoint=False):
            rows = model._default_manager.bulk_create(objs)
            get_history_manager_for_model(model).bulk_history_create(
                rows, default_user=actor, default_change_reason=None
            )
        return rows
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_with_history")
    sql, params = _insert_with_history_sql(model, objs, using=using)
    with db.cursor() as cursor:
        cursor.execute(sql, (*params, timezone.now(), actor.pk))
        # The rows' keys come from one sequence in the rows' order.
        keys = sorted(row[0] for row in cursor.fetchall())
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = using
    return list(objs)


def _insert_with_history_sql(model: type[models.Model], objs: Sequence, *, using: str) -> tuple[str, tuple]:
    """``INSERT … RETURNING *`` of the rows (as Django's bulk_create builds it, auto_now
    fields filled in) feeding the ``INSERT`` of their history rows, which copies the
    tracked columns; history_date and history_user are the two last parameters.

    The statement's text depends only on the model and on one row or many (many rows go
    in as one array per column: UNNEST), so it is built by Django's compiler once per
    process and kept, with the shape of its parameters as Django made them; later calls
    only prepare the values, the compiler's own way. A value that is an expression, or
    a shape this does not recognise, takes the compiler's full path every time."""
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if not f.generated and f is not pk]
    query = InsertQuery(model)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(using=using)
    key = (model, using, len(objs) > 1)
    cached = _insert_sql.get(key)
    if cached is not None:
        rows = [[compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in fields] for obj in objs]
        if not any(hasattr(value, "as_sql") for row in rows for value in row):
            sql, shape = cached
            return sql, tuple(map(list, zip(*rows, strict=True))) if shape == "columns" else tuple(rows[0])
    [(insert_sql, params)] = compiler.as_sql()
    qn = connections[using].ops.quote_name
    history = _history_model(model)
    tracked = ", ".join(qn(f.column) for f in history.tracked_fields)
    sql = (
        f"WITH new_rows AS ({insert_sql} RETURNING *) "
        f"INSERT INTO {qn(history._meta.db_table)} "
        f"({tracked}, history_date, history_change_reason, history_type, history_user_id) "
        f"SELECT {tracked}, %s, NULL, '+', %s FROM new_rows RETURNING {qn(pk.column)}"
    )
    # Remember the text when the parameters are plainly the values: one row's values in
    # order, or (many rows) one list per column; never when a field writes its own
    # placeholder (which may depend on the value).
    if not any(hasattr(f, "get_placeholder") for f in fields) and len(params) == len(fields):
        if len(objs) == 1:
            _insert_sql[key] = (sql, "row")
        elif all(isinstance(p, list) and len(p) == len(objs) for p in params):
            _insert_sql[key] = (sql, "columns")
    return sql, params


# (model, database, many rows) -> (statement text, "row" | "columns")
_insert_sql: dict[tuple, tuple[str, str]] = {}


@cache
def _history_model(model: type[models.Model]) -> type[models.Model] | None:
    """The model's historical model, when its columns are the ones the single-statement
    insert fills: the tracked columns plus simple-history's own."""
    history = get_history_manager_for_model(model).model
    expected = {f.attname for f in history.tracked_fields} | set(HISTORY_COLUMNS)
    return history if {f.attname for f in history._meta.concrete_fields} == expected else None


# What simple-history adds to a model's columns in its historical table.
HISTORY_COLUMNS = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")


def insert_rows_with_history(rows: dict[type[models.Model], list[Row]], *, actor) -> None:
    """Insert ``rows`` (column values per model, parents first) and a history row for
    each — the rows ``bulk_create_with_history`` writes (history_type "+", history_user =
    ``actor``, history_date = the wall clock), without model instances. Sets each
    ``row["id"]``.

    The primary keys are drawn from the sequences first (one query), so rows
    can point at each other; each table is written by COPY, and then one statement copies
    the new rows into their history tables inside the database (the values never travel
    twice). Django's bulk_create binds every value through psycopg's client-side quoting
    and costs seconds for a batch; this takes milliseconds."""
    rows = {model: batch for model, batch in rows.items() if batch}
    if not rows:
        return
    _assign_ids(rows)
    when = timezone.now()
    history, params = [], []
    with connection.cursor() as cursor:
        for model, batch in rows.items():
            table = _copy_table(model)
            _pg_copy(cursor, table.table, table.columns, [table.values(row) for row in batch])
            history.append(f"h{len(history)} AS ({table.history_insert})")
            params += [when, actor.pk, [row["id"] for row in batch]]
        # Data-modifying CTEs: every history table in one round trip.
        cursor.execute(f"WITH {', '.join(history)} SELECT 1", params)


def _assign_ids(rows: dict[type[models.Model], list[Row]]) -> None:
    """Draw every primary key the rows need from their sequences, in one round trip."""
    draws, params = [], []
    for model, batch in rows.items():
        draws.append("(SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s))")
        params += [model._meta.db_table, model._meta.pk.column, len(batch)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(draws)}", params)
        drawn = cursor.fetchone()
    for batch, ids in zip(rows.values(), drawn, strict=True):
        for row, pk in zip(batch, ids, strict=True):
            row["id"] = pk


@dataclass(frozen=True)
class _CopyTable:
    """How new rows of one model go in by COPY: columns (primary key first) with each
    field's default, which are JSON, which foreign keys may hold a parent row; and the
    statement that copies rows (by id) into the history table with simple-history's own
    four columns (history_date and history_user_id bound, type "+", no change reason)."""

    table: str
    columns: tuple[str, ...]
    history_insert: str  # parameters: history_date, history_user_id, the ids
    defaults: tuple[tuple[str, Any], ...]  # (attname, default) for every column after the key
    json: tuple[tuple[int, Any], ...]  # (position in the row tuple, the field's encoder)
    links: tuple[tuple[str, str], ...]  # (foreign key name, attname)
    known: frozenset[str]
    required: frozenset[str]

    def resolve_links(self, row: Row) -> None:
        for name, attname in self.links:
            if name in row:
                parent = row[name]
                row[attname] = None if parent is None else parent["id"]

    def values(self, row: Row) -> tuple:
        """The row as a COPY tuple; a missing column takes its field's default."""
        self.resolve_links(row)
        if not (row.keys() <= self.known and self.required <= row.keys()):
            raise ValueError(
                f"{self.table} row: unknown {sorted(row.keys() - self.known)}, missing {sorted(self.required - row.keys())}"
            )
        values = [row["id"], *[row.get(attname, default) for attname, default in self.defaults]]
        for at, encoder in self.json:
            if values[at] is not None:
                values[at] = json.dumps(values[at], cls=encoder)  # what JSONField stores, serialised once
        return tuple(values)


@cache
def _copy_table(model: type[models.Model]) -> _CopyTable:
    meta = model._meta
    history = model.history.model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    defaults, required, json_at, links = [], set(), [], []
    for position, f in enumerate(fields, start=1):
        if f.many_to_one:
            links.append((f.name, f.attname))
        if isinstance(f, models.JSONField):
            json_at.append((position, f.encoder))
        time_dependent = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        if f.has_default() and callable(f.default) and f.default not in (dict, list):
            time_dependent = True  # e.g. default=timezone.now: the builder must set it
        default = None if time_dependent else f.get_default()
        if time_dependent or (default is None and not f.null):
            required.add(f.attname)
        defaults.append((f.attname, default))
    qn = connection.ops.quote_name
    tracked = [f for f in fields if f.name in {h.name for h in history.fields}]  # what simple-history keeps
    specials = ("history_date", "history_change_reason", "history_type", "history_user")
    source = ", ".join(qn(c) for c in [meta.pk.column, *(f.column for f in tracked)])
    target = ", ".join(qn(history.get_field(n).column) for n in [meta.pk.name, *(f.name for f in tracked), *specials])
    return _CopyTable(
        table=qn(meta.db_table),
        columns=tuple(qn(c) for c in [meta.pk.column, *(f.column for f in fields)]),
        history_insert=(
            f"INSERT INTO {qn(history.db_table)} ({target}) "  # noqa: S608 — identifiers from the models
            f"SELECT {source}, %s, NULL, '+', %s FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} = ANY(%s)"
        ),
        defaults=tuple(defaults),
        json=tuple(json_at),
        links=tuple(links),
        known=frozenset({"id", *(f.attname for f in fields), *(name for name, _ in links)}),
        required=frozenset(required),
    )


def _pg_copy(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    """COPY ``rows`` (tuples in ``columns`` order; names already quoted) into ``table``."""
    # Raw psycopg COPY bypasses Django's error translation; wrap it so a unique violation
    # is django.db.IntegrityError like any other write (the sweep's conflict handling).
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)


def update_with_history(objs: Sequence[models.Model], fields: list[str], *, actor) -> None:
    """Write ``fields`` of ``objs`` (instances of one model) and a history row for each
    (history_type "~", history_user = ``actor``), as plain.update_with_history
    (bulk_update_with_history) does.

    Django's bulk_update writes one ``CASE WHEN id = … THEN …`` per field and row; for a
    batch of 500 cases × 17 fields that is most of a sweep's time. The values go instead as one JSON document joined with ``jsonb_to_recordset``, and the
    same statement copies the updated rows (``RETURNING``) into the history table: one
    round trip, and the cases' other fifty columns never travel to Python and back. The
    history rows hold what the database now holds, which is what simple-history records."""
    if not objs:
        return
    model = type(objs[0])
    model_fields = [model._meta.get_field(name) for name in fields]
    history = get_history_manager_for_model(model).model._meta
    specials = ("history_date", "history_change_reason", "history_type", "history_user")
    copied = [f.column for f in history.concrete_fields if not f.primary_key and f.name not in specials]
    qn = connection.ops.quote_name
    columns = ", ".join(f"{qn(f.column)} {f.cast_db_type(connection)}" for f in model_fields)
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in model_fields)
    returning = ", ".join(f"t.{qn(c)}" for c in copied)
    history_columns = ", ".join(qn(c) for c in [*copied, *(history.get_field(n).column for n in specials)])
    sql = (
        f"WITH updated AS (UPDATE {qn(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608 — identifiers from the models, values bound
        f"FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {columns}) WHERE t.id = v.id RETURNING {returning}) "
        f"INSERT INTO {qn(history.db_table)} ({history_columns}) "
        f"SELECT {', '.join(qn(c) for c in copied)}, %s, NULL, '~', %s FROM updated"
    )
    when = timezone.now()
    with connection.cursor() as cursor:
        for start in range(0, len(objs), 1000):
            chunk = objs[start : start + 1000]
            document = json.dumps(
                [{"id": i.pk, **{f.column: getattr(i, f.attname) for f in model_fields}} for i in chunk],
                default=_json_default,
            )
            cursor.execute(sql, [document, when, actor.pk])


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
