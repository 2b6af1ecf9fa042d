"""The weekly figures as every door reads them: the review page (the chosen ISO week and
the 12 before), the digest and the API (one week) all call ``review_figures``.

A week is in one of three states. *Kept*: the beat computed its figures once, after it
ended (``services.review_weeks``), and every view reads them in one query. *Pending*: it
has ended but the beat has not kept it yet (the minutes after Monday 00:00 UTC, a fresh
install, a week asked for that the beat does not keep on its own): no view computes it;
it is shown as being computed, and the door may ask the beat's task to run sooner. *In
progress*: the current week, which has no figures until it ends. Only the breaches by
cause and the escape-valve lists are read at every view (``reporting.live``).

Reading never writes: no view, API call or digest keeps a week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils import timezone

from escalations.choices import ClockKind
from escalations.models import ReviewWeek
from escalations.reporting.aggregates import pareto, stack
from escalations.reporting.definitions import ALL, KEEP_EVERY_SECONDS, REVIEW_WEEKS, ROLLUP_VERSION, SEVERITY_LABELS
from escalations.reporting.live import BreachCauses, EscapeValves, breaches_by_cause, escape_valves
from escalations.reporting.series import blank_week
from escalations.sla import weeks as iso_weeks
from escalations.sla.weeks import Week, week_parse


class WeekState(StrEnum):
    KEPT = "kept"
    PENDING = "pending"  # ended, not kept yet: being computed
    IN_PROGRESS = "in_progress"  # not over yet


def last_complete_week(now: datetime | None = None) -> Week:
    """The ISO week before the one ``now`` (UTC) falls in."""
    return iso_weeks.last_complete_week(now or timezone.now())


def review_weeks(week: Week, weeks: int = REVIEW_WEEKS) -> list[Week]:
    """``week`` and the ``weeks - 1`` before it, oldest first."""
    return iso_weeks.weeks_ending(week, weeks)


def kept_weeks(span: list[Week]) -> dict[datetime, tuple[dict, datetime]]:
    """The kept figures of the weeks of ``span`` (week start → (slice, when computed)),
    in one query. Rows of an older ``ROLLUP_VERSION`` are not kept figures."""
    rows = ReviewWeek.objects.filter(week_start__in=[w.starts_at for w in span], version=ROLLUP_VERSION)
    return {start: (figures, at) for start, figures, at in rows.values_list("week_start", "figures", "computed_at")}


def week_state(week: Week, kept: bool, now: datetime) -> WeekState:
    if kept:
        return WeekState.KEPT
    return WeekState.PENDING if week.ends_at <= now else WeekState.IN_PROGRESS


def kept_by(week: Week, now: datetime) -> datetime:
    """When the beat keeps a week at the latest: its next run after the week ends."""
    return max(week.ends_at, now) + timedelta(seconds=KEEP_EVERY_SECONDS)


@dataclass
class Distribution:
    count: list[int | None]
    median: list[int | None]
    p90: list[int | None]


# Money in a kept slice is text (JSON has no decimals): these leaves become Decimals.
_MONEY = (("opened", "arr_at_risk"), ("open_at_end", "arr_at_risk"), ("credits", "requested_amount"),
          ("credits", "approved_amount"))  # fmt: skip
_DISTRIBUTIONS = ("tta", "ttr_cycle", "ttr_total", "time_to_accept")


def _decimals(value):
    if isinstance(value, dict):
        return {key: _decimals(v) for key, v in value.items()}
    return None if value is None else Decimal(value)


def _readable(week_slice: dict) -> dict:
    """A kept slice with its money as Decimals."""
    out = dict(week_slice)
    for family, name in _MONEY:
        out[family] = {**out[family], name: _decimals(out[family][name])}
    return out


@dataclass
class ReviewFigures:
    """Every figure of ``weeks`` (oldest first, ending with the chosen ``week``). Per-week
    lists line up with ``weeks`` and hold None for a week not kept; dicts keyed by
    severity hold ``ALL`` and each SeverityKey. ``chosen`` is the chosen week's slice
    (None when it is not kept), what the API and the digest map."""

    week: Week
    weeks: list[Week]
    states: list[WeekState]
    computed_at: list[datetime | None]
    chosen: dict | None
    tta: dict[str, Distribution]
    ttr_cycle: dict[str, Distribution]
    ttr_total: dict[str, Distribution]
    time_to_accept: dict[str, Distribution]
    adherence: dict[str, dict[str, list]]  # severity → ack / resolve / update → weeks
    updates: dict[str, dict[str, list]]  # severity → posted / late → weeks
    reopens: dict[str, list]
    reopen_rate: dict[str, list]
    breaches: dict[str, dict[str, list]]  # severity → total and each clock kind → weeks
    handoffs: dict[str, dict[str, list]]  # severity → offered, accepted, rejected, ping_pong, … → weeks
    executive_escalations: dict[str, list]
    severity_set_by_hand: dict[str, list]
    stage_ownership: dict[str, Distribution]  # stage → weeks, all severities
    opened: dict[str, Any]  # cases / arr_at_risk / sentiment → severity → weeks
    open_at_end: dict[str, Any]
    credits: dict[str, list]  # requested_count, requested_amount, approved_count, approved_amount → weeks
    causes: BreachCauses
    valves: EscapeValves = field(default_factory=EscapeValves)

    @property
    def state(self) -> WeekState:
        return self.states[-1]

    @property
    def is_kept(self) -> bool:
        return self.state == WeekState.KEPT

    @property
    def labels(self) -> list[str]:
        return [w.label for w in self.weeks]

    @property
    def missing(self) -> list[Week]:
        """The weeks shown that have ended but are not kept yet."""
        return [w for w, s in zip(self.weeks, self.states, strict=True) if s == WeekState.PENDING]

    @property
    def pareto_clocks(self) -> list[dict]:
        if not self.is_kept:
            return []
        counts = {kind: self.breaches[ALL][kind][-1] for kind in ClockKind.values}
        return pareto(counts, dict(ClockKind.choices))

    def chart_data(self, severity: str = ALL) -> dict[str, Any]:
        """What the page's charts draw (minutes and percentages), for json_script; a week
        not kept is a gap."""

        def minutes(values: list[int | None]) -> list[float | None]:
            return [None if v is None else round(v / 60, 1) for v in values]

        return {
            "labels": self.labels,
            "severity": SEVERITY_LABELS[severity],
            "tta_p50": minutes(self.tta[severity].median),
            "tta_p90": minutes(self.tta[severity].p90),
            "ttr_p50": minutes(self.ttr_cycle[severity].median),
            "ttr_p90": minutes(self.ttr_cycle[severity].p90),
            "adherence_ack": self.adherence[severity]["ack"],
            "adherence_resolve": self.adherence[severity]["resolve"],
            "adherence_update": self.adherence[severity]["update"],
            "pareto_labels": [row["label"] for row in self.causes.pareto],
            "pareto_counts": [row["count"] for row in self.causes.pareto],
            "pareto_cumulative": [row["cumulative_pct"] for row in self.causes.pareto],
        }


def review_figures(
    week: Week | str, weeks: int = REVIEW_WEEKS, *, now: datetime | None = None, lists: bool = True
) -> ReviewFigures:
    """The figures of ``week`` and the ``weeks - 1`` before it: the kept weeks in one
    query, the chosen week's breaches by cause (two queries) and, with ``lists``, its
    escape-valve lists (four). Never computes a week and never writes. Raises ValueError
    on a bad label."""
    if isinstance(week, str):
        week = week_parse(week)
    now = now or timezone.now()
    span = review_weeks(week, weeks)
    stored = kept_weeks(span)
    empty = None
    slices, states, computed = [], [], []
    for w in span:
        if w.starts_at in stored:
            week_slice, at = stored[w.starts_at]
            slices.append(_readable(week_slice))
        else:
            empty = empty or blank_week()
            slices.append(empty)
            at = None
        states.append(week_state(w, at is not None, now))
        computed.append(at)
    tree = stack(slices)
    for name in _DISTRIBUTIONS:
        tree[name] = {key: Distribution(**d) for key, d in tree[name].items()}
    tree["stage_ownership"] = {stage: Distribution(**d) for stage, d in tree["stage_ownership"].items()}
    return ReviewFigures(
        week=week,
        weeks=span,
        states=states,
        computed_at=computed,
        chosen=slices[-1] if states[-1] == WeekState.KEPT else None,
        causes=breaches_by_cause(week),
        valves=escape_valves(week) if lists else EscapeValves(),
        **tree,
    )
