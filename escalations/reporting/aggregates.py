"""The building blocks of the weekly figures: PostgreSQL aggregates (``percentile_cont``,
seconds of a duration), grouping by ISO week with one filtered aggregate per severity,
and the conversions between a series tree (leaves are lists over the weeks) and one
week's slice of it (what ``ReviewWeek.figures`` keeps)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Aggregate, Count, F, FloatField, Func, Q
from django.db.models.functions import TruncWeek

from escalations.reporting.definitions import ALL, SEVERITY_KEYS
from escalations.sla.weeks import Week, week_label


class Percentile(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``: PostgreSQL's
    continuous percentile (linear interpolation between the two nearest values)."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class Seconds(Func):
    """A duration as seconds (``EXTRACT(EPOCH FROM …)``)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    output_field = FloatField()


def in_range(field_name: str, start: datetime, end: datetime) -> Q:
    # Half-open ranges [start, end): an event at Monday 00:00 belongs to the new week.
    return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def per_severity(severity_field: str, **makers: Callable[[Q], Aggregate]) -> dict[str, Aggregate]:
    """One filtered aggregate per severity and one over all: ``{name}__{severity}``."""
    out = {}
    for key in SEVERITY_KEYS:
        condition = Q() if key == ALL else Q(**{severity_field: key})
        for name, make in makers.items():
            out[f"{name}__{key}"] = make(condition)
    return out


def count(condition: Q, extra: Q | None = None) -> Count:
    both = condition & extra if extra is not None else condition
    return Count("id", filter=both) if both else Count("id")


def pct(part: int | None, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def ratio(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 2) if whole else None


def whole_seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def by_week(rows: list[dict], weeks: list[Week]) -> list[dict]:
    """The grouped rows in week order; a week without rows reads as zeros and nulls."""
    found = {week_label(row["week"]): row for row in rows}
    return [found.get(w.label, {}) for w in weeks]


def series(rows: list[dict], name: str, key: str, default: Any = 0) -> list:
    return [row.get(f"{name}__{key}", default) if row else default for row in rows]


def distribution(rows: list[dict], prefix: str, key: str) -> dict[str, list]:
    return {
        "count": series(rows, f"{prefix}_n", key),
        "median": [whole_seconds(v) for v in series(rows, f"{prefix}_p50", key, None)],
        "p90": [whole_seconds(v) for v in series(rows, f"{prefix}_p90", key, None)],
    }


def distribution_aggregates(prefix: str, value, severity_field: str, extra: Q | None = None) -> dict:
    def both(c: Q) -> Q | None:
        return c & extra if extra is not None else c or None

    return per_severity(
        severity_field,
        **{
            f"{prefix}_n": lambda c: count(c, extra),
            f"{prefix}_p50": lambda c: Percentile(value, 0.5, filter=both(c)),
            f"{prefix}_p90": lambda c: Percentile(value, 0.9, filter=both(c)),
        },
    )


def grouped(qs, date_field: str, aggregates: dict, weeks: list[Week]) -> list[dict]:
    rows = list(qs.annotate(week=TruncWeek(date_field, tzinfo=UTC)).order_by().values("week").annotate(**aggregates))
    return by_week(rows, weeks)


def counted(qs, date_field: str, severity_field: str, counts: dict, weeks: list[Week]) -> list[dict]:
    """Counts only, grouped by week and severity (each row's conditions evaluated once,
    not once per severity); the all-severities figure is their sum."""
    rows = list(
        qs.annotate(week=TruncWeek(date_field, tzinfo=UTC), sev=F(severity_field))
        .order_by()
        .values("week", "sev")
        .annotate(**counts)
    )
    merged: dict[datetime, dict] = {}
    for row in rows:
        out = merged.setdefault(row["week"], {"week": row["week"]})
        for name in counts:
            out[f"{name}__{row['sev']}"] = row[name]
            out[f"{name}__{ALL}"] = out.get(f"{name}__{ALL}", 0) + row[name]
    return by_week(list(merged.values()), weeks)


def pareto(counts: dict[str, int], labels: dict[str, str]) -> list[dict]:
    """Largest first (ties by label), with each row's cumulative share of the total."""
    total = sum(counts.values())
    rows, running = [], 0
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(labels[kv[0]]))):
        if not n:
            continue
        running += n
        rows.append({"key": key, "label": str(labels[key]), "count": n, "cumulative_pct": pct(running, total)})
    return rows


def pick(tree, i: int):
    """Week ``i``'s slice of a series tree: every leaf list replaced by its item ``i``."""
    if isinstance(tree, dict):
        return {key: pick(value, i) for key, value in tree.items()}
    return tree[i]


def stack(slices: list):
    """The inverse of ``pick``: week slices (oldest first) back into one series tree."""
    if isinstance(slices[0], dict):
        return {key: stack([s[key] for s in slices]) for key in slices[0]}
    return list(slices)


def blank(tree):
    """A slice of the same shape with every value None: a week with no figures yet."""
    if isinstance(tree, dict):
        return {key: blank(value) for key, value in tree.items()}
    return None
