"""Helpers every service uses: the system actor, audited saves, event recording,
row locking and version checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, models, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

from escalations.models import CaseEvent, Incident
from escalations.services.errors import VersionConflict

M = TypeVar("M", bound=models.Model)


def system_user():
    """The named actor for work nobody clicked: Celery beat, the sweep, integrations
    without a user. Created on first use (and by the roles migration)."""
    return _system_user_cached(settings.SYSTEM_USERNAME)


@lru_cache(maxsize=4)
def _system_user_cached(username: str):
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=username, defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)"}
    )
    return user


def reset_system_user_cache() -> None:
    """Tests that flush the database call this so the cached row is not stale."""
    _system_user_cached.cache_clear()


def audited_save(instance: models.Model, *, actor, update_fields: Iterable[str] | None = None) -> None:
    """Save recording ``actor`` as the history user (whatever the door: form, API, task)."""
    instance._history_user = actor
    if update_fields is None:
        instance.save()
    else:
        fields = list(dict.fromkeys(update_fields))
        if isinstance(instance, Incident):
            fields.append("updated_at")
        instance.save(update_fields=fields)


def audited_insert(objs: Sequence[M], *, actor) -> list[M]:
    """Insert new rows of one model, each with its creation history row recording
    ``actor`` — the rows ``audited_save`` writes for a new row — in one statement
    however many rows. Fills in the primary keys.

    The path for writes that create rows in bulk (intake, events). It skips what
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
            raise ValueError(f"audited_insert() writes new rows only; {obj!r} has a primary key.")
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
        obj._prepare_related_fields_for_save(operation_name="audited_insert")
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


def audited_create(model: type[models.Model], *, history_user, **values: Any) -> models.Model:
    """Create a row recording ``history_user`` as the actor in its history."""
    instance = model(**values)
    audited_save(instance, actor=history_user)
    return instance


def event_record(
    *,
    incident: Incident,
    kind: str,
    actor,
    at: datetime,
    old: dict | None = None,
    new: dict | None = None,
    detail: str = "",
) -> CaseEvent:
    """Append a business event to the case's timeline."""
    return audited_create(
        CaseEvent,
        history_user=actor,
        actor=actor,
        incident=incident,
        kind=kind,
        at=at,
        old=_jsonable(old or {}),
        new=_jsonable(new or {}),
        detail=detail[:500],
    )


def event_build(
    *,
    incident: Incident,
    kind: str,
    actor,
    at: datetime,
    old: dict | None = None,
    new: dict | None = None,
    detail: str = "",
) -> CaseEvent:
    """An unsaved event, for callers that write several at once with ``events_save``."""
    return CaseEvent(
        incident=incident, kind=kind, at=at, actor=actor, old=_jsonable(old or {}), new=_jsonable(new or {}),
        detail=detail[:500],
    )  # fmt: skip


def events_save(events: list[CaseEvent], *, actor) -> list[CaseEvent]:
    """Insert events (and their history rows) in two queries, in order."""
    return audited_insert(events, actor=actor)


def _jsonable(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, models.Model):
            out[key] = str(value)
        elif value is None or isinstance(value, (bool, int, float, str, list, dict)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def incident_lock(incident: Incident | int, *, expected_version: int | None = None) -> Incident:
    """Reload the case FOR UPDATE (inside the caller's transaction) and check the caller's
    version. The lock serialises concurrent changes to one case; the version check stops
    a change made from a stale page or payload."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    locked = Incident.objects.select_for_update(of=("self",)).select_related("policy", "customer", "channel").get(pk=pk)
    if expected_version is not None and locked.version != int(expected_version):
        raise VersionConflict(
            f"This case was changed by someone else (you had version {expected_version}, it is now "
            f"version {locked.version}). Reload it and apply your change again.",
            current_version=locked.version,
            changed=changed_since(locked, int(expected_version)),
        )
    return locked


def changed_since(incident: Incident, version: int) -> dict:
    """Field → [old, new] for what changed after ``version`` (from simple-history)."""
    rows = list(incident.history.filter(version__gte=version).order_by("history_date", "history_id"))
    if len(rows) < 2:
        return {}
    first, last = rows[0], rows[-1]
    delta = last.diff_against(first)
    return {
        change.field: [_display(change.old), _display(change.new)]
        for change in delta.changes
        if change.field not in _INTERNAL_FIELDS and not change.field.endswith(("_warn_at", "_target_seconds"))
    }


# Bookkeeping fields left out of "what changed" summaries shown to people.
_INTERNAL_FIELDS = {
    "version",
    "next_check_at",
    "next_deadline_at",
    "calendar_snapshot",
    "policy",
    "paused_seconds",
    "update_cadence_seconds",
    "warning_pct",
    "last_progress_at",
}


def _display(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def bump_version(incident: Incident, fields: list[str]) -> list[str]:
    incident.version += 1
    return [*fields, "version"]
