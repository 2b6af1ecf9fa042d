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

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escalations.services.common import system_user
from escalations.services.notifications import notification_deliver, notifications_publish, notifications_retry_due
from escalations.services.sweep import sweep_run

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
def sweep_breaches() -> dict:
    """One breach sweep. No retry: beat schedules the next one within seconds."""
    return sweep_run(now=timezone.now(), source="beat").as_dict()


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
