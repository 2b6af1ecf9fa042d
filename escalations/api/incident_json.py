"""IncidentOut, compiled: the same JSON for the hot read paths at a fraction of the cost.

DRF renders a row by walking ~46 Field objects (attribute lookup, None check,
``to_representation``, ordered-dict insert) and calls the clock maths through
SerializerMethodFields; on a 50-row list page that is most of the request. Here
IncidentOut's own field list is turned once, at import, into one plain getter per field
that produces exactly what the field would (``tests/integration/test_api_incident_json.py``
compares both on every kind of case). IncidentOut stays the contract and the schema's
source: adding a field there adds it here, and a field of a kind this module does not
know fails at import rather than rendering something different.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework import fields, relations
from rest_framework.settings import api_settings

from escalations.api.serializers import IncidentOut, clock_seconds
from escalations.models import Incident
from escalations.sla import Pause

Getter = Callable[[Incident, "_Context"], Any]


class _Context:
    """Per response: one instant, one output time zone, clocks computed once per row."""

    __slots__ = ("now", "tz", "pauses", "_clocks")

    def __init__(self, now: datetime, pauses: dict[int, list[Pause]] | None) -> None:
        self.now = now
        self.tz = timezone.get_current_timezone()
        self.pauses = pauses
        self._clocks: dict[int, tuple[int, int]] = {}

    def clocks(self, incident: Incident) -> tuple[int, int]:
        pk = incident.pk
        if pk not in self._clocks:
            pauses = self.pauses.get(pk, []) if self.pauses is not None else None
            self._clocks[pk] = clock_seconds(incident, self.now, pauses=pauses)
        return self._clocks[pk]


def _datetime(attr: str) -> Getter:
    def get(incident: Incident, ctx: _Context) -> str | None:
        value = getattr(incident, attr)
        if not value:
            return None
        text = value.astimezone(ctx.tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return get


def _decimal(attr: str, places: int) -> Getter:
    exponent = Decimal(".1") ** places

    def get(incident: Incident, ctx: _Context) -> str | None:
        value = getattr(incident, attr)
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        return f"{value.quantize(exponent):f}"

    return get


def _plain(attr: str, cast: Callable[[Any], Any] | None = None) -> Getter:
    def get(incident: Incident, ctx: _Context) -> Any:
        value = getattr(incident, attr)
        return value if value is None or cast is None else cast(value)

    return get


def _slug(attr: str, slug_field: str) -> Getter:
    def get(incident: Incident, ctx: _Context) -> Any:
        related = getattr(incident, attr)
        return None if related is None else getattr(related, slug_field)

    return get


# The SerializerMethodFields, by name.
_METHODS: dict[str, Getter] = {
    "paused": lambda incident, ctx: incident.paused_since is not None,
    "breached": lambda incident, ctx: incident.is_breached,
    "tta_seconds": lambda incident, ctx: ctx.clocks(incident)[0],
    "ttr_seconds": lambda incident, ctx: ctx.clocks(incident)[1],
}


def _getter(name: str, field: fields.Field) -> Getter:
    source = field.source
    if isinstance(field, fields.SerializerMethodField):
        return _METHODS[name]
    if isinstance(field, relations.SlugRelatedField):
        return _slug(source, field.slug_field)
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return _plain(Incident._meta.get_field(source).attname)
    if isinstance(field, fields.DateTimeField):
        if getattr(field, "format", fields.empty) is not fields.empty:
            raise TypeError(f"IncidentOut.{name}: a custom datetime format is not compiled here.")
        return _datetime(source)
    if isinstance(field, fields.DecimalField):
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        if field.normalize_output or field.localize or not coerce or field.rounding is not None:
            raise TypeError(f"IncidentOut.{name}: only plain string decimals are compiled here.")
        return _decimal(source, field.decimal_places)
    if isinstance(field, fields.ChoiceField):
        # ChoiceField returns the stored value itself for the string choices used here.
        return _plain(source, str)
    if isinstance(field, fields.BooleanField):
        return _plain(source, bool)
    if isinstance(field, fields.IntegerField):
        return _plain(source, int)
    if type(field) in (fields.CharField, fields.EmailField, fields.URLField):
        return _plain(source, str)
    if type(field) is fields.ReadOnlyField:
        return _plain(source)
    raise TypeError(f"IncidentOut.{name}: {type(field).__name__} is not compiled; add it to incident_json.")


def _compile() -> tuple[tuple[str, Getter], ...]:
    serializer = IncidentOut()
    compiled = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if not isinstance(field, fields.SerializerMethodField) and ("." in field.source or field.source == "*"):
            raise TypeError(f"IncidentOut.{name}: dotted sources are not compiled here.")
        compiled.append((name, _getter(name, field)))
    return tuple(compiled)


_FIELDS = _compile()


def incident_json(incident: Incident, *, now: datetime, pauses: list[Pause] | None = None) -> dict[str, Any]:
    """One case as IncidentOut renders it (``pauses``: as incidents_json)."""
    ctx = _Context(now, None if pauses is None else {incident.pk: pauses})
    return {name: get(incident, ctx) for name, get in _FIELDS}


def incidents_json(
    incidents: Iterable[Incident], *, now: datetime, pauses: dict[int, list[Pause]] | None = None
) -> list[dict[str, Any]]:
    """Cases as IncidentOut(many=True) renders them, with one instant for all.
    ``pauses``: every case's pauses by id (pauses_by_incident), else each case's own
    (a prefetch named "pauses" when there is one)."""
    ctx = _Context(now, pauses)
    return [{name: get(incident, ctx) for name, get in _FIELDS} for incident in incidents]


def _columns() -> tuple[str, ...]:
    """The Incident columns the getters read: for ``QuerySet.only()``."""
    serializer = IncidentOut()
    model_fields = {f.name for f in Incident._meta.concrete_fields}
    wanted = {field.source for field in serializer.fields.values() if field.source in model_fields}
    # The SerializerMethodFields and the clocks read these.
    wanted |= {
        "paused_since",
        "ack_breached_at",
        "resolve_breached_at",
        "update_breached_at",
        "clock_started_at",
        "cycle_started_at",
        "acknowledged_at",
        "resolved_at",
        "calendar_snapshot",
    }
    return tuple(sorted(wanted))


INCIDENT_JSON_COLUMNS = _columns()
