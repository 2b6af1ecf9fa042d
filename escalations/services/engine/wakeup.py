"""Waking the sweep at the next deadline between two beats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache as django_cache

from escalations.choices import HandoffStatus
from escalations.models import HandoffPacket, Incident

# --- Waking up at the next deadline --------------------------------------------------------
#
# The beat sweeps every SWEEP_INTERVAL_SECONDS, so a deadline between two beats waits up
# to one interval. After each sweep the task asks for the earliest deadline within the
# next interval and has Celery run one more sweep at that instant (``apply_async(eta=…)``);
# that sweep does the same, so known deadlines are met within about a second and the beat
# stays the safety net. No scheduler of our own: Celery holds the timer, the database
# holds the deadlines.

# Wake-up instants are rounded up to this grid: at most one wake-up per tick however many
# deadlines fall in it, and rounding *up* means the wake-up never fires before its deadline.
WAKEUP_TICK = timedelta(milliseconds=100)
# Look a little past the next beat: a beat that runs late must not leave a gap.
WAKEUP_MARGIN = timedelta(seconds=1)
WAKEUP_KEY_PREFIX = "sweep-wakeup"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sweep_next_check_after(*, now: datetime, until: datetime) -> datetime | None:
    """The earliest pending deadline in (now, until], or None: a case's ``next_check_at``
    or an offered handoff's acceptance time box. One probe of each partial index
    (incident_sweep_idx, handoff_accept_due_idx: ORDER BY … LIMIT 1). Frozen (paused)
    and closed cases hold NULL in next_check_at, so they never wake the sweep."""
    case = (
        Incident.objects.filter(next_check_at__gt=now, next_check_at__lte=until)
        .order_by("next_check_at")
        .values_list("next_check_at", flat=True)
        .first()
    )
    handoff = (
        HandoffPacket.objects.filter(
            status=HandoffStatus.OFFERED,
            accept_due_at__gt=now,
            accept_due_at__lte=until,
            accept_breached_at__isnull=True,
        )
        .order_by("accept_due_at")
        .values_list("accept_due_at", flat=True)
        .first()
    )
    return min((at for at in (case, handoff) if at is not None), default=None)


def _tick_ceil(at: datetime) -> int:
    """``at`` rounded up to WAKEUP_TICK, as a whole number of ticks since the epoch
    (integer arithmetic: exact, and the same key in every process)."""
    micros = (at - EPOCH) // timedelta(microseconds=1)
    tick = WAKEUP_TICK // timedelta(microseconds=1)
    return -(-micros // tick)


def sweep_wakeup_claim(*, now: datetime, horizon: timedelta | None = None) -> datetime | None:
    """The instant the next wake-up sweep should run, if one is needed and nobody has
    scheduled it yet; else None.

    Invariants: the instant is strictly after ``now`` (the sweep that calls this has
    handled everything due at ``now``, so a wake-up never re-sweeps its own instant and
    a chain of wake-ups always moves forward); it is the earliest pending deadline within
    ``horizon`` (default: one beat interval plus WAKEUP_MARGIN), rounded up to WAKEUP_TICK,
    so never before that deadline; and each instant is claimed once by an atomic
    ``cache.add`` — with a shared cache (CACHE_URL) once overall, with the per-process
    memory cache once per process. A duplicate wake-up is only a cheap extra sweep:
    sweeps claim rows with skip-locked and the unique constraints keep breaches single.
    Without the claim every beat would start another self-perpetuating chain."""
    if horizon is None:
        horizon = timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS) + WAKEUP_MARGIN
    deadline = sweep_next_check_after(now=now, until=now + horizon)
    if deadline is None:
        return None
    ticks = _tick_ceil(deadline)
    at = EPOCH + ticks * WAKEUP_TICK
    # Kept until well after the instant has passed; by then no sweep can find it again
    # (they only look strictly after their own ``now``).
    timeout = int((at - now).total_seconds()) + int(horizon.total_seconds()) + 60
    if not django_cache.add(f"{WAKEUP_KEY_PREFIX}:{ticks}", now.isoformat(), timeout=timeout):
        return None
    return at


def sweep_wakeup_release(at: datetime) -> None:
    """Give back a claimed instant whose wake-up could not be enqueued, so the next
    sweep may try again."""
    django_cache.delete(f"{WAKEUP_KEY_PREFIX}:{_tick_ceil(at)}")
