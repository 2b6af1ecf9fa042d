"""IncidentOut, compiled: the same JSON for the hot read paths at a fraction of the cost.

DRF renders a row by walking ~46 Field objects (attribute lookup, None check,
``to_representation``, ordered-dict insert) and calls the clock maths through
SerializerMethodFields; on a 50-row list page that is most of the request. Here
IncidentOut's own field list is turned once, at import, into one plain getter per field
over a *row*: a tuple of the columns in ``ROW_COLUMNS`` order. A list page fetches those
tuples straight from the database (``incident_rows`` read through ``RowsPaginator``: no model instances,
the calendar snapshot as text, PostgreSQL timestamps parsed by psycopg's C loader); a case already
in hand (a detail read, the case intake just wrote) is turned into the same tuple by
``instance_row``. Both produce exactly what IncidentOut would
(``tests/integration/test_api_incident_json.py`` compares them on every kind of case).
IncidentOut stays the contract and the schema's source: adding a field there adds it
here, and a field of a kind this module does not know fails at import rather than
rendering something different.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from rest_framework import fields, relations
from rest_framework.settings import api_settings

from escalations.api.serializers import IncidentOut
from escalations.choices import OPEN_STATUSES
from escalations.fastpath import fetch_rows
from escalations.models import ClockPause, Incident
from escalations.models.cases import reference_for
from escalations.selectors.clocks import (
    clock_seconds_of,
    incident_pauses,
    pauses_by_incident,
    snapshot_calendar,
    snapshot_calendar_text,
)
from escalations.sla import CASE_CLOCKS, Pause, breached_clocks

Row = tuple
Getter = Callable[[Row, "_Context"], Any]

# The calendar snapshot is read as JSON text (CALENDAR_TEXT) and parsed once per
# distinct text per process; an instance carries it parsed.
CALENDAR_TEXT = "calendar_text"


# The UTC tzinfo objects datetimes arrive with (Django's loader, psycopg's, zoneinfo).
_UTC = frozenset({UTC, ZoneInfo("UTC")})


class _Columns:
    """The row layout: each column's values_list name and the instance attribute it is."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.attrs: list[str] = []

    def __call__(self, name: str, attr: str | None = None) -> int:
        if name not in self.names:
            self.names.append(name)
            self.attrs.append(attr or name)
        return self.names.index(name)


class _Context:
    """Per response: one instant, one output time zone, clocks computed once per row."""

    __slots__ = ("now", "tz", "utc", "pauses", "_clocks")

    def __init__(self, now: datetime, pauses: dict[int, list[Pause]]) -> None:
        self.now = now
        self.tz = timezone.get_current_timezone()
        self.utc = self.tz in _UTC
        self.pauses = pauses
        self._clocks: dict[int, tuple[int, int]] = {}


def _datetime(i: int) -> Getter:
    def get(row: Row, ctx: _Context) -> str | None:
        value = row[i]
        if not value:
            return None
        if ctx.utc and value.tzinfo in _UTC:  # as read from the database: UTC already
            return value.isoformat()[:-6] + "Z"
        text = value.astimezone(ctx.tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return get


def _decimal(i: int, places: int) -> Getter:
    exponent = Decimal(".1") ** places

    def get(row: Row, ctx: _Context) -> str | None:
        value = row[i]
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        return f"{value.quantize(exponent):f}"

    return get


def _plain(i: int, cast: Callable[[Any], Any] | None = None) -> Getter:
    if cast is None:
        return lambda row, ctx: row[i]

    def get(row: Row, ctx: _Context) -> Any:
        value = row[i]
        return None if value is None else cast(value)

    return get


def _clocks(col: _Columns) -> Callable[[Row, _Context], tuple[int, int]]:
    pk = col("id")
    started, acked, cycle, resolved = (
        col(name) for name in ("clock_started_at", "acknowledged_at", "cycle_started_at", "resolved_at")
    )
    calendar = col(CALENDAR_TEXT, "calendar_snapshot")

    def clocks(row: Row, ctx: _Context) -> tuple[int, int]:
        key = row[pk]
        cached = ctx._clocks.get(key)
        if cached is None:
            if row[started] is None:
                cached = (0, 0)
            else:
                snapshot = row[calendar]
                pauses = ctx.pauses.get(key, [])
                cached = clock_seconds_of(
                    row[started],
                    row[acked],
                    row[cycle],
                    row[resolved],
                    snapshot_calendar(snapshot) if isinstance(snapshot, dict) else snapshot_calendar_text(snapshot),
                    ctx.now,
                    pauses,
                )
            ctx._clocks[key] = cached
        return cached

    return clocks


def _method_getters(col: _Columns) -> dict[str, Getter]:
    """The SerializerMethodFields, by name (their IncidentOut methods, over columns)."""
    paused_since = col("paused_since")
    status, acknowledged = col("status"), col("acknowledged_at")
    ack, resolve, update = (col(f"{clock}_breached_at") for clock in CASE_CLOCKS)
    clocks = _clocks(col)

    def breached(row: Row, ctx: _Context) -> bool:
        return bool(
            breached_clocks(
                is_open=row[status] in OPEN_STATUSES,
                acknowledged=row[acknowledged] is not None,
                ack_breached=row[ack] is not None,
                resolve_breached=row[resolve] is not None,
                update_breached=row[update] is not None,
            )
        )

    return {
        "paused": lambda row, ctx: row[paused_since] is not None,
        "breached": breached,
        "tta_seconds": lambda row, ctx: clocks(row, ctx)[0],
        "ttr_seconds": lambda row, ctx: clocks(row, ctx)[1],
    }


def _getter(name: str, field: fields.Field, col: _Columns, methods: dict[str, Getter]) -> Getter:
    source = field.source
    if isinstance(field, fields.SerializerMethodField):
        return methods[name]
    if source == "reference":  # a property of the id
        pk = col("id")
        return lambda row, ctx: reference_for(row[pk])
    if isinstance(field, relations.SlugRelatedField):
        return _plain(col(f"{source}__{field.slug_field}", f"{source}.{field.slug_field}"))
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return _plain(col(Incident._meta.get_field(source).attname))
    Incident._meta.get_field(source)  # any other source must be a column (FieldDoesNotExist)
    if isinstance(field, fields.DateTimeField):
        if getattr(field, "format", fields.empty) is not fields.empty:
            raise TypeError(f"IncidentOut.{name}: a custom datetime format is not compiled here.")
        return _datetime(col(source))
    if isinstance(field, fields.DecimalField):
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        if field.normalize_output or field.localize or not coerce or field.rounding is not None:
            raise TypeError(f"IncidentOut.{name}: only plain string decimals are compiled here.")
        return _decimal(col(source), field.decimal_places)
    if isinstance(field, fields.ChoiceField):
        # ChoiceField returns the stored value itself for the string choices used here.
        return _plain(col(source), str)
    if isinstance(field, fields.BooleanField):
        return _plain(col(source), bool)
    if isinstance(field, fields.IntegerField):
        return _plain(col(source), int)
    if type(field) in (fields.CharField, fields.EmailField, fields.URLField):
        return _plain(col(source), str)
    if type(field) is fields.ReadOnlyField:
        return _plain(col(source))
    raise TypeError(f"IncidentOut.{name}: {type(field).__name__} is not compiled; add it to incident_json.")


def _compile() -> tuple[tuple[tuple[str, Getter], ...], tuple[str, ...], tuple[str, ...]]:
    col = _Columns()
    methods = _method_getters(col)
    compiled = []
    for name, field in IncidentOut().fields.items():
        if field.write_only:
            continue
        if not isinstance(field, fields.SerializerMethodField) and ("." in field.source or field.source == "*"):
            raise TypeError(f"IncidentOut.{name}: dotted sources are not compiled here.")
        compiled.append((name, _getter(name, field, col, methods)))
    return tuple(compiled), tuple(col.names), tuple(col.attrs)


_FIELDS, ROW_COLUMNS, _ROW_ATTRS = _compile()
_ID = ROW_COLUMNS.index("id")

instance_row: Callable[[Incident], Row] = attrgetter(*_ROW_ATTRS)
"""A case in hand as a row (its calendar snapshot as the parsed dict)."""

INCIDENT_JSON_COLUMNS = tuple(sorted({attr.split(".")[0] for attr in _ROW_ATTRS} - {"id"} | {"calendar_snapshot"}))
"""The Incident fields the getters read from an instance: for ``QuerySet.only()``."""


def rows_json(rows: Iterable[Row], *, now: datetime, pauses: dict[int, list[Pause]] | None = None) -> list[dict]:
    """Rows as IncidentOut(many=True) renders their cases, with one instant for all.
    ``pauses``: every case's pauses by id (pauses_by_incident); else taken from the rows
    (incident_rows_by_id's carry them last) or read in one query."""
    if pauses is None:
        rows = list(rows)
        if rows and len(rows[0]) > len(ROW_COLUMNS):
            pauses = {row[_ID]: row[-1] for row in rows}
        else:
            pauses = pauses_by_incident(row[_ID] for row in rows)
    ctx = _Context(now, pauses)
    return [{name: get(row, ctx) for name, get in _FIELDS} for row in rows]


def incident_json(incident: Incident, *, now: datetime, pauses: list[Pause] | None = None) -> dict[str, Any]:
    """One case as IncidentOut renders it (``pauses``: its pauses, else read)."""
    if pauses is None:
        pauses = incident_pauses(incident)
    return rows_json([instance_row(incident)], now=now, pauses={incident.pk: pauses})[0]


def incident_rows(qs: QuerySet[Incident]) -> QuerySet:
    """``qs`` as rows for rows_json (a values_list queryset: slice it, count it)."""
    return qs.annotate(**{CALENDAR_TEXT: Cast("calendar_snapshot", TextField())}).values_list(*ROW_COLUMNS)


def incident_rows_by_id(ids: list[int], *, using: str = "default") -> list[Row]:
    """The cases with these ids as rows, in the order given, each with one more last
    value, its pauses (oldest first): what a list page renders. One statement compiled
    once per process (building this 47-column query through the ORM on every request
    takes longer than running it), pauses aggregated beside each row."""
    if not ids:
        return []
    found = fetch_rows(_rows_by_id_sql(using), [ids], using=using)
    rows = [(*row[:-1], [Pause(start, end) for start, end in row[-1] or ()]) for row in found]
    position = {pk: n for n, pk in enumerate(ids)}
    rows.sort(key=lambda row: position[row[_ID]])
    return rows


@functools.cache
def _rows_by_id_sql(using: str) -> str:
    """incident_rows' SELECT plus a last column of [started_at, ended_at] pairs (oldest
    first, as pauses_by_incident), for ``WHERE id = ANY(<ids>)``."""
    incident, pause = Incident._meta.db_table, ClockPause._meta.db_table
    spans = RawSQL(
        f'(SELECT array_agg(ARRAY[p."started_at", p."ended_at"] ORDER BY p."started_at", p."id")'
        f' FROM "{pause}" p WHERE p."incident_id" = "{incident}"."id")',
        [],
    )
    qs = incident_rows(Incident.objects.order_by()).annotate(pause_spans=spans)
    qs = qs.values_list(*ROW_COLUMNS, "pause_spans")
    sql, params = qs.query.get_compiler(using).as_sql()
    if params or qs.query.where or qs.query.order_by:
        raise ImproperlyConfigured("incident_rows_by_id expects a SELECT without parameters or conditions.")
    return f'{sql} WHERE "{incident}"."id" = ANY(%s::bigint[])'
