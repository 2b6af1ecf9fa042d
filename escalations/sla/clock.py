"""Pure clock maths: elapsed clock time, due times and clock state.

No ORM, no settings, no ``timezone.now()``: callers pass ``now`` and plain values.

Definitions. A clock starts at ``start``. Time *counts* when it is inside the calendar's
working hours and outside every pause. ``elapsed(now)`` is the counted time in
[start, now). The clock is *due* at the first instant where the counted time reaches
the target; while a pause is open the clock is frozen, so a not-yet-reached due time
is unknown (None) until it resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar, _require_aware

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Pause:
    """A pause from ``start`` to ``end`` (None while still running). ``reason`` (a
    PauseReason value, when the caller loaded it) plays no part in the clock maths, so it
    is left out of equality: the breach-cause suggestion reads it."""

    start: datetime
    end: datetime | None = None
    reason: str = field(default="", compare=False)


class ClockStatus(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    WARNING = "warning"
    PAUSED = "paused"
    BREACHED = "breached"
    MET = "met"
    MISSED = "missed"  # stopped after the due time


@dataclass(frozen=True)
class ClockState:
    status: ClockStatus
    elapsed: timedelta
    remaining: timedelta | None  # negative once breached; None if not started
    due_at: datetime | None
    warn_at: datetime | None


def _merge_pauses(pauses: Iterable[Pause], start: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Pauses clipped to [start, until), sorted and merged so none overlap."""
    spans = []
    for pause in pauses:
        _require_aware(pause.start)
        end = until if pause.end is None else min(pause.end, until)
        begin = max(pause.start, start)
        if end > begin:
            spans.append((begin, end))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _counting_intervals(
    start: datetime, pauses: Sequence[Pause], calendar: Calendar, until: datetime = FAR_FUTURE
) -> Iterator[tuple[datetime, datetime]]:
    """Intervals in which the clock counts: calendar hours minus pauses, from start."""
    open_pause_start = min((p.start for p in pauses if p.end is None), default=None)
    horizon = until if open_pause_start is None else min(until, max(open_pause_start, start))
    merged = _merge_pauses([p for p in pauses if p.end is not None], start, horizon)
    for begin, end in calendar.open_intervals(start):
        if begin >= horizon:
            return
        end = min(end, horizon)
        cursor = begin
        for p_begin, p_end in merged:
            if p_end <= cursor or p_begin >= end:
                continue
            if p_begin > cursor:
                yield cursor, p_begin
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            yield cursor, end
        if end >= horizon:
            return


def elapsed(
    start: datetime, now: datetime, pauses: Sequence[Pause] = (), calendar: Calendar = TWENTY_FOUR_SEVEN
) -> timedelta:
    """Counted clock time between ``start`` and ``now``: pauses and off-hours excluded.
    Zero if ``now`` is before ``start``."""
    _require_aware(start)
    _require_aware(now)
    if now <= start:
        return timedelta(0)
    if calendar.is_24x7 and not pauses:  # the loop below, for its one interval
        # In UTC: aware datetimes sharing a zone subtract as wall times.
        return (now if now.tzinfo is UTC else now.astimezone(UTC)) - (
            start if start.tzinfo is UTC else start.astimezone(UTC)
        )
    total = timedelta(0)
    for begin, end in _counting_intervals(start, pauses, calendar, until=now):
        total += end - begin
    return total


def due_at(
    start: datetime, target: timedelta, pauses: Sequence[Pause] = (), calendar: Calendar = TWENTY_FOUR_SEVEN
) -> datetime | None:
    """The instant the counted time reaches ``target``; None while an open pause freezes
    the clock before that. Monotone: a longer target never gives an earlier due time."""
    _require_aware(start)
    if target < timedelta(0):
        raise ValueError("target must not be negative")
    if target == timedelta(0):
        return start  # nothing to count: due the moment the clock starts, pauses or not
    remaining = target
    for begin, end in _counting_intervals(start, pauses, calendar):
        span = end - begin
        if span >= remaining:
            return begin + remaining
        remaining -= span
    return None  # frozen by an open pause


def warn_at(
    start: datetime,
    target: timedelta,
    warning_pct: int,
    pauses: Sequence[Pause] = (),
    calendar: Calendar = TWENTY_FOUR_SEVEN,
) -> datetime | None:
    """When the warning fires: at ``warning_pct`` % of the target's counted time."""
    if not 0 < warning_pct <= 100:
        raise ValueError("warning_pct must be in 1..100")
    return due_at(start, target * warning_pct / 100, pauses, calendar)


def pauses_until(pauses: Sequence[Pause], stop: datetime | None) -> tuple[Pause, ...]:
    """The pauses as a clock stopped at ``stop`` saw them: a pause that began after the
    stop never touched it, so a met or missed clock's figures never move."""
    if stop is None:
        return tuple(pauses)
    return tuple(Pause(p.start, stop if p.end is None or p.end > stop else p.end) for p in pauses if p.start < stop)


class QueueRank(IntEnum):
    """Work-queue bands, most urgent first."""

    BREACHED = 0
    WARNING = 1
    RUNNING = 2
    WAITING = 3  # paused on the customer or a third party, or clocks not started
    CLOSED = 4


# The clocks of a case's current cycle, by the names Breach.kind and the stored fields use.
CASE_CLOCKS = ("ack", "resolve", "update")


def breached_clocks(
    *,
    is_open: bool,
    acknowledged: bool,
    ack_breached: bool,
    resolve_breached: bool,
    update_breached: bool,
) -> tuple[str, ...]:
    """The clocks of a case that are breached now: the sweep recorded the breach and the
    promise is still unkept. An acknowledge breach counts until the case is acknowledged,
    a resolve breach while the cycle is open, an update breach until the next customer
    update. A resolved or closed case has nothing breached now, and a pause keeps no
    promise, so a paused case stays breached. Whether a case *ever* breached is the
    Breach rows' answer (per cycle), never this one's.

    The one home of "breached": the API payload and its ``?breached=`` filter, the work
    queues' breached band (``queue_rank``), the case page, the queue rows and the admin
    column all come from here (the filter through the band stored by the services)."""
    if not is_open:
        return ()
    # A customer update clears update_breached_at and a reopen clears the resolve and
    # update markers (a new cycle); acknowledging keeps ack_breached_at, the record of
    # when that promise broke, so the acknowledgement itself is what ends it here.
    now_breached = {"ack": ack_breached and not acknowledged, "resolve": resolve_breached, "update": update_breached}
    return tuple(clock for clock in CASE_CLOCKS if now_breached[clock])


def queue_rank(*, is_open: bool, started: bool, paused: bool, breached: bool, warned: bool) -> QueueRank:
    """A case's band in the work queues, from what the sweep has recorded: a breach or a
    warning counts once the sweep has seen it (within a second or two of the moment).
    ``breached`` is ``breached_clocks``' answer, and a breached case is in the breached
    band even while paused, so the band is exactly "breached now"."""
    if not is_open:
        return QueueRank.CLOSED
    if breached:
        return QueueRank.BREACHED
    if paused or not started:
        return QueueRank.WAITING
    return QueueRank.WARNING if warned else QueueRank.RUNNING


def stopped_in_time(stopped_at: datetime, due: datetime | None) -> bool:
    """Whether a clock stopped at ``stopped_at`` kept its promise (no due time known:
    nothing was due yet, so it did)."""
    return due is None or stopped_at <= due


def stored_status(
    *, due_at: datetime | None, warn_at: datetime | None, breached_at: datetime | None, now: datetime
) -> ClockStatus:
    """A running clock's status from its stored due and warning times, without walking
    the calendar: what the queue shows and what the sweep fires on. Due times are stored
    only for running clocks (None while paused or not started), and a recorded breach
    stays a breach. Agrees with clock_state's status for a running clock (tested)."""
    if due_at is None:
        return ClockStatus.NOT_STARTED
    if breached_at is not None or now >= due_at:
        return ClockStatus.BREACHED
    if warn_at is not None and now >= warn_at:
        return ClockStatus.WARNING
    return ClockStatus.RUNNING


def clock_state(
    *,
    start: datetime | None,
    target: timedelta,
    now: datetime,
    stopped_at: datetime | None = None,
    pauses: Sequence[Pause] = (),
    calendar: Calendar = TWENTY_FOUR_SEVEN,
    warning_pct: int = 75,
) -> ClockState:
    """The whole state of one clock at ``now``. ``stopped_at`` is when the promise was
    kept (acknowledged, resolved); a stopped clock is MET or MISSED."""
    _require_aware(now)
    if start is None:
        return ClockState(ClockStatus.NOT_STARTED, timedelta(0), None, None, None)
    if stopped_at is not None and stopped_at <= now:
        pauses = pauses_until(pauses, stopped_at)
    until = min(now, stopped_at) if stopped_at is not None else now
    spent = elapsed(start, until, pauses, calendar)
    due = due_at(start, target, pauses, calendar)
    warn = warn_at(start, target, warning_pct, pauses, calendar)
    remaining = target - spent
    if stopped_at is not None and stopped_at <= now:
        status = ClockStatus.MET if spent <= target else ClockStatus.MISSED
    elif spent >= target:
        status = ClockStatus.BREACHED
    elif any(p.end is None and p.start <= now for p in pauses):
        status = ClockStatus.PAUSED
    elif warn is not None and now >= warn:
        status = ClockStatus.WARNING
    else:
        status = ClockStatus.RUNNING
    return ClockState(status, spent, remaining, due, warn)
