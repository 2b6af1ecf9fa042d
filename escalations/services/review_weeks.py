"""Keeping the weekly figures: a complete week's figures no longer move (their events are
in the past), so each is computed once and kept (``ReviewWeek``), by the beat task
``escalations.keep_review_weeks``. This is the only writer of kept weeks; the doors only
read them, and may ask the task to run sooner (``review_weeks_hurry``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from celery import current_app
from django.core.cache import cache
from django.db import connection, transaction
from simple_history.utils import bulk_create_with_history

from escalations.lib.outages import BROKER, CACHE
from escalations.models import ReviewWeek
from escalations.reporting.definitions import KEEP_EVERY_SECONDS, REVIEW_WEEKS, ROLLUP_VERSION
from escalations.reporting.figures import kept_weeks, last_complete_week, review_weeks
from escalations.reporting.series import weeks_computed
from escalations.services.common import system_user
from escalations.sla.weeks import Week, week_parse

logger = logging.getLogger(__name__)

KEEP_TASK = "escalations.keep_review_weeks"
# The weeks one run computes besides the last 13: what one page asks for.
ASKED_MAX = REVIEW_WEEKS
HURRY_KEY = "review-weeks-asked"
# The advisory lock key of review_weeks_keep (any constant no other code uses).
KEEP_LOCK = 7_240_011


def review_weeks_keep(*, now: datetime, weeks: int = REVIEW_WEEKS, asked: Iterable[str] = ()) -> int:
    """Compute and keep the last complete week and any of the ``weeks - 1`` before it
    not kept yet, and the complete weeks ``asked`` for by label (a page or the API showed
    them as being computed). One query when every week is kept. Returns how many weeks
    it computed."""
    wanted = {w.starts_at: w for w in review_weeks(last_complete_week(now), weeks)}
    for label in list(asked)[:ASKED_MAX]:
        try:
            week = week_parse(label)
        except ValueError:
            continue
        wanted[week.starts_at] = week
    span = sorted((w for w in wanted.values() if w.ends_at <= now), key=lambda w: w.starts_at)
    if not span:
        return 0
    with transaction.atomic():
        # One keeper at a time (the beat's run and one a door asked for may overlap): the
        # second waits, then finds the weeks kept instead of computing them again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [KEEP_LOCK])
        kept = kept_weeks(span)
        missing = [w for w in span if w.starts_at not in kept]
        if not missing:
            return 0
        fresh = weeks_computed(missing)
        # A row of an older ROLLUP_VERSION is replaced.
        ReviewWeek.objects.filter(week_start__in=[w.starts_at for w in missing]).delete()
        bulk_create_with_history(
            [
                ReviewWeek(week_start=w.starts_at, version=ROLLUP_VERSION, figures=fresh[w.starts_at], computed_at=now)
                for w in missing
            ],
            ReviewWeek,
            ignore_conflicts=True,
            default_user=system_user(),
        )
    return len(missing)


def review_weeks_hurry(weeks: list[Week]) -> bool:
    """Ask the keeping task to run now for ``weeks`` (complete weeks a door found not
    kept), each week at most once per beat interval: the claim is a ``cache.add`` per
    week, not a database write. Best effort, never raises: while the cache or the broker
    is down the beat keeps them on its next run. True when a run was asked."""
    if not weeks or CACHE.holding_off():
        return False
    try:
        claimed = [
            w.label
            for w in sorted(weeks, key=lambda w: w.starts_at)[:ASKED_MAX]
            if cache.add(f"{HURRY_KEY}:{w.label}", 1, timeout=KEEP_EVERY_SECONDS)
        ]
    except Exception as exc:  # noqa: BLE001 — the cache is down: the beat carries on
        CACHE.failed(exc)
        return False
    CACHE.succeeded()
    if not claimed or BROKER.holding_off():
        return False
    try:
        with current_app.producer_or_acquire() as producer:
            # One connection attempt: kombu's own retry would sleep 2 s first, on a request.
            producer.connection.ensure_connection(max_retries=0)
            # By name: the services never import the tasks module, which imports them.
            current_app.send_task(
                KEEP_TASK, kwargs={"asked": claimed}, expires=KEEP_EVERY_SECONDS, producer=producer, retry=False
            )
    except Exception as exc:  # noqa: BLE001 — any broker error: the beat keeps them on its next run
        BROKER.failed(exc)
        _unclaim(claimed)
        return False
    BROKER.succeeded()
    return True


def _unclaim(labels: list[str]) -> None:
    """Let the next view ask again (a lost publish is not a run)."""
    try:
        cache.delete_many([f"{HURRY_KEY}:{label}" for label in labels])
    except Exception as exc:  # noqa: BLE001
        CACHE.failed(exc)
