"""Celery adapters: thin doors onto the services. Each task takes ids and plain values,
reads the clock once, calls one service and owns only its retry policy. Names are
explicit and stable (a rename would orphan queued messages and the beat schedule).

All tasks run with acks_late and reject_on_worker_lost (config/celery.py): a worker
killed mid-task leaves the message to be redelivered, which is harmless because every
task is idempotent — the sweep claims rows with skip-locked and unique constraints, and
delivery only sends rows still pending, under a row lock.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from escalations.lib.outages import BROKER, CACHE
from escalations.services.common import system_user
from escalations.services.digest import digest_send_due
from escalations.services.engine.sweep import sweep_run
from escalations.services.engine.wakeup import sweep_wakeup_claim, sweep_wakeup_release
from escalations.services.notifications import notification_deliver, notifications_publish, notifications_retry_due
from escalations.services.rca_deadlines import rca_deadlines_check
from escalations.services.review_weeks import review_weeks_keep
from escalations.services.submissions import submissions_purge

logger = logging.getLogger(__name__)


@shared_task(
    name="escalations.sweep_breaches",
    acks_late=True,
    # The sweep stops taking batches after SWEEP_MAX_SECONDS; these limits are the
    # backstop for a sweep stuck on the database.
    soft_time_limit=max(settings.SWEEP_MAX_SECONDS * 2, 60),
    time_limit=max(settings.SWEEP_MAX_SECONDS * 3, 90),
    ignore_result=True,
)
def sweep_breaches(wake_at: str | None = None) -> dict:
    """One breach sweep, then (SWEEP_WAKEUP) one more at the next deadline within the
    beat interval, so a known deadline is met within about a second instead of up to one
    interval later. ``wake_at``: the instant a wake-up was scheduled for (ISO 8601);
    absent when the beat sent it. No retry: beat schedules the next one within seconds."""
    if wake_at is not None:
        _not_before(datetime.fromisoformat(wake_at))
    now = timezone.now()
    result = sweep_run(now=now, source="wakeup" if wake_at is not None else "beat")
    if settings.SWEEP_WAKEUP:
        sweep_wakeup_schedule(now=now)
    return result.as_dict()


def sweep_breaches_here() -> dict:
    """One sweep in this process, not through the broker: the beat's fallback while it
    cannot publish ``sweep_breaches`` (config/beat.py). Breaches, escalations and outbox
    rows are written as by any sweep (heartbeat source ``beat-inline``); their deliveries
    are published after commit if the broker allows, else the retry pass sends them once
    it is back. No wake-up: it could not be published either, and the beat's next tick
    comes within one interval."""
    # The beat is a long-lived process outside Celery's task machinery, which would
    # otherwise drop a connection that died (the database restarted) or outlived its age.
    close_old_connections()
    try:
        return sweep_run(now=timezone.now(), source="beat-inline").as_dict()
    finally:
        close_old_connections()


def _not_before(at: datetime) -> None:
    # The worker's timer converts the eta to its monotonic clock; should it fire a hair
    # early, the sweep would run just before the deadline it was woken for, and — by
    # design — nothing reschedules that instant (only the beat would catch it).
    early = (at - timezone.now()).total_seconds()
    if early > 0:
        time.sleep(min(early, 1.0))


def sweep_wakeup_schedule(*, now: datetime) -> datetime | None:
    """Enqueue one wake-up sweep at the next deadline after ``now`` (the sweep's own
    ``now``: a deadline that passed while it ran gets a wake-up at once) if one falls
    within the interval and no sweep has claimed that instant yet. Celery holds the
    timer (``eta``); the routes send it to the ``engine`` queue like the beat's sweeps.
    Best effort: if the cache or the broker fails, the beat still sweeps."""
    if CACHE.holding_off():
        return None
    try:
        at = sweep_wakeup_claim(now=now)
    except Exception as exc:  # noqa: BLE001 — the cache is down: no wake-up, the beat carries on
        CACHE.failed(exc)
        return None
    CACHE.succeeded()
    if at is None:
        return None
    try:
        sweep_breaches.apply_async(
            kwargs={"wake_at": at.isoformat()},
            eta=at,
            # Later than one interval past its instant, the beat has done its work.
            expires=at + timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS),
        )
    except Exception as exc:  # noqa: BLE001 — the broker is down: let the next sweep try this instant again
        BROKER.failed(exc)
        try:
            sweep_wakeup_release(at)
        except Exception:
            logger.debug("Could not release the wake-up claim", exc_info=True)
        return None
    return at


@shared_task(
    name="escalations.deliver_notification",
    acks_late=True,
    # A webhook waits at most WEBHOOK_TIMEOUT_SECONDS; an SMTP server can hang longer.
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def deliver_notification(notification_id: int) -> str:
    """Deliver one outbox row. Failures are recorded on the row with its next attempt
    time (exponential backoff) and retried by ``retry_notifications``, not by Celery's
    own retry: the schedule lives in the database, so it survives a broker restart."""
    return notification_deliver(notification_id=int(notification_id), now=timezone.now(), actor=system_user())


@shared_task(
    name="escalations.retry_notifications", acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True
)
def retry_notifications() -> int:
    """Publish deliveries for pending rows whose next attempt is due: failed attempts
    after their backoff, and rows whose after-commit publish was lost."""
    ids = notifications_retry_due(now=timezone.now())
    return notifications_publish(ids) if ids else 0


@shared_task(name="escalations.purge_form_tokens", soft_time_limit=60, time_limit=90, ignore_result=True)
def purge_form_tokens() -> int:
    return submissions_purge(now=timezone.now())


@shared_task(
    name="escalations.check_rca_deadlines", acks_late=True, soft_time_limit=120, time_limit=180, ignore_result=True
)
def check_rca_deadlines() -> dict:
    """Tell owners, then Managers, of overdue RCAs and action items (each stage once)."""
    grace = timedelta(hours=settings.RCA_MANAGER_GRACE_HOURS)
    return rca_deadlines_check(now=timezone.now(), grace=grace, actor=system_user())


@shared_task(
    name="escalations.send_weekly_digest", acks_late=True, soft_time_limit=300, time_limit=360, ignore_result=True
)
def send_weekly_digest() -> int:
    """Email the weekly digest to whoever's slot has come in their zone (once a week each)."""
    return digest_send_due(now=timezone.now(), actor=system_user())


@shared_task(name="escalations.keep_review_weeks", soft_time_limit=600, time_limit=660, ignore_result=True)
def keep_review_weeks(asked: list[str] | None = None) -> int:
    """Keep the complete weeks' figures (the beat, every 5 minutes), and the weeks a page
    or the API found not kept (``asked``, by label)."""
    return review_weeks_keep(now=timezone.now(), asked=asked or ())
