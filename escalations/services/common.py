"""Helpers every service uses: the system actor, audited saves, event recording,
row locking and version checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from escalations import fastpath
from escalations.errors import RuleViolation, VersionConflict, raise_all
from escalations.models import CaseEvent, Incident

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


def history_note(instance: models.Model, *, actor=None, reason: str = "") -> None:
    """What the next history row of ``instance`` records beside its values: who made the
    change, and why. The one place simple-history's per-instance hooks are set."""
    if actor is not None:
        instance._history_user = actor
    if reason:
        instance._change_reason = reason


def text_limits_check(instance: models.Model, fields: Iterable[str] | None = None) -> None:
    """Refuse text longer than its field allows (every text and char field of the models
    has a ``max_length``): one message per field at fault, naming it, before anything is
    written. Every service write passes here (``audited_save``, ``audited_insert``), so
    the limit holds whatever the door; the database enforces the char fields' limits too.
    ``fields``: only these (an update's fields); None: all."""
    wanted = None if fields is None else set(fields)
    errors = []
    for field in instance._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField) or field.max_length is None:
            continue
        if wanted is not None and field.name not in wanted and field.attname not in wanted:
            continue
        value = getattr(instance, field.attname)
        if isinstance(value, str) and len(value) > field.max_length:
            errors.append(
                RuleViolation(
                    f"Keep the {field.verbose_name} under {field.max_length:,} characters (it has {len(value):,}).",
                    field=field.name,
                    code="max_length",
                )
            )
    raise_all(errors)


def audited_save(
    instance: models.Model, *, actor, update_fields: Iterable[str] | None = None, reason: str = ""
) -> None:
    """Save recording ``actor`` as the history user (whatever the door: form, API, task)
    and ``reason`` as the history row's change reason. Text over its field's limit is
    refused first (``text_limits_check``)."""
    if update_fields is not None:
        update_fields = list(update_fields)
    text_limits_check(instance, update_fields)
    history_note(instance, actor=actor, reason=reason)
    if update_fields is None:
        instance.save()
    else:
        fields = list(dict.fromkeys(update_fields))
        if isinstance(instance, Incident):
            fields.append("updated_at")
        instance.save(update_fields=fields)


def audited_delete(instance: models.Model, *, actor) -> None:
    """Delete recording ``actor`` as the history user of the deletion row."""
    history_note(instance, actor=actor)
    instance.delete()


def audited_insert(objs: Sequence[M], *, actor) -> list[M]:
    """Insert new rows of one model, each with its creation history row recording
    ``actor`` — the rows ``audited_save`` writes for a new row. Fills in the primary
    keys. The path for writes that create rows in bulk (intake, events, paging)."""
    for obj in objs:
        text_limits_check(obj)
    return fastpath.insert_with_history(objs, actor=actor)


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
    event = event_build(incident=incident, kind=kind, actor=actor, at=at, old=old, new=new, detail=detail)
    audited_save(event, actor=actor)
    return event


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
    return CaseEvent(incident=incident, actor=actor, **event_values(kind=kind, at=at, old=old, new=new, detail=detail))


def event_values(
    *, kind: str, at: datetime, old: dict | None = None, new: dict | None = None, detail: str = ""
) -> dict:
    """A timeline event's content: the one place it is shaped (values made JSON-safe,
    detail cut to its column). ``event_build`` adds the case and the actor as objects;
    the sweep, which writes rows, adds their ids."""
    return {"kind": kind, "at": at, "old": _jsonable(old or {}), "new": _jsonable(new or {}), "detail": detail[:500]}


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


# The case's state: every transition depends on it (a case resolved or paused by someone
# else since the page loaded makes any state change a conflict).
STATE_FIELDS = ("status", "paused_since", "acknowledged_at", "resolved_at", "closed_at")


def incident_lock(
    incident: Incident | int, *, expected_version: int | None = None, depends_on: Iterable[str] | None = None
) -> Incident:
    """Reload the case FOR UPDATE (inside the caller's transaction) and check the caller's
    version. The lock serialises concurrent changes to one case; the version check stops
    a change made from a stale page or payload.

    ``depends_on``: the fields the caller's action changes or relies on. A case changed
    since ``expected_version`` is a conflict only if one of them changed (a teammate's
    customer update does not make your severity change stale); None: any change is."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    locked = Incident.objects.select_for_update(of=("self",)).select_related("policy", "customer", "channel").get(pk=pk)
    if expected_version is not None and locked.version != int(expected_version):
        changes = changes_since(locked, int(expected_version))
        # No history to compare with (a version this case never had): a conflict.
        if depends_on is None or not changes or set(changes) & set(depends_on):
            raise VersionConflict(
                f"This case was changed by someone else (you had version {expected_version}, it is now "
                f"version {locked.version}). Reload it and apply your change again.",
                current_version=locked.version,
                changed=shown_changes(changes),
            )
    return locked


def changes_since(incident: Incident, version: int) -> dict[str, list]:
    """Field → [old, new] for every field changed after ``version`` (from simple-history)."""
    rows = list(incident.history.filter(version__gte=version).order_by("history_date", "history_id"))
    if len(rows) < 2:
        return {}
    delta = rows[-1].diff_against(rows[0])
    return {change.field: [_display(change.old), _display(change.new)] for change in delta.changes}


def changed_since(incident: Incident, version: int) -> dict:
    """What a person is shown as changed after ``version``: bookkeeping left out."""
    return shown_changes(changes_since(incident, version))


def shown_changes(changes: dict[str, list]) -> dict[str, list]:
    return {
        field: values
        for field, values in changes.items()
        if field not in _INTERNAL_FIELDS and not field.endswith(("_warn_at", "_target_seconds"))
    }


# Bookkeeping fields left out of "what changed" summaries shown to people.
_INTERNAL_FIELDS = {
    "version",
    "next_check_at",
    "next_deadline_at",
    "queue_rank",
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
