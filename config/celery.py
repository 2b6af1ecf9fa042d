"""The Celery app. Settings come from config.settings (CELERY_*), chosen on purpose:

- JSON only: tasks take ids and plain values, never pickles.
- acks_late + reject_on_worker_lost: a task is acknowledged after it ran, so a worker
  killed mid-task (SIGKILL, OOM) leaves the message to be redelivered; every task is
  idempotent (the sweep claims rows with skip-locked and unique constraints guard
  exactly-once), so a redelivery is harmless.
- prefetch 1: with acks_late, a worker holds only the task it runs.
- time limits: a stuck task is killed instead of holding a worker forever (per-task
  limits in escalations/tasks.py; these are the defaults).
- the Redis visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS) is longer than
  any hard time limit, so a slow task is never handed to a second worker while running;
  a task whose worker died is redelivered after it.
- two queues: the sweep and the retry pass go to "engine", deliveries to "celery". A
  worker started without -Q consumes both (task_queues) in turn, so a backlog of
  thousands of deliveries after an outage never delays the next sweep.
- broker outages: worker and beat retry the broker forever, every
  BROKER_RECONNECT_SECONDS (``Consumer`` below; kombu's own backoff grows to 30 s between
  tries), so the consumer is back within about a second of the broker; while the beat
  cannot publish the sweep it runs it in its own process (config/beat.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("escalations")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=120,
    task_time_limit=180,
    task_ignore_result=True,
    timezone="UTC",
    enable_utc=True,
    task_default_queue="celery",
    task_queues=[Queue("celery"), Queue("engine")],
    task_routes={
        "escalations.sweep_breaches": {"queue": "engine"},
        "escalations.retry_notifications": {"queue": "engine"},
    },
    worker_consumer="config.celery:Consumer",
    beat_scheduler="config.beat:Scheduler",
)
app.autodiscover_tasks()

from config.beat import BEAT_SCHEDULE  # noqa: E402  (after app exists; pure data)

app.conf.beat_schedule = BEAT_SCHEDULE


logger = logging.getLogger(__name__)

# While the broker is down the consumer logs its connection error this often, not once
# per try (a try a second would be 300 lines in a five-minute outage).
RECONNECT_LOG_EVERY_SECONDS = 60.0


class Consumer(CeleryConsumer):
    """Celery's consumer, reconnecting to a lost broker every BROKER_RECONNECT_SECONDS
    for as long as it takes. Celery passes no interval to kombu, whose backoff grows by
    2 s a try up to 30 s: after a minute's outage the consumer returned up to half a
    minute after the broker, and escalation waited with it."""

    def ensure_connected(self, conn: Any) -> Any:
        from django.conf import settings

        every = settings.BROKER_RECONNECT_SECONDS
        ensure = conn.ensure_connection

        def ensure_connection(errback: Callable | None = None, *args: Any, **kwargs: Any) -> Any:
            kwargs.update(interval_start=every, interval_step=0, interval_max=every)
            return ensure(_now_and_then(errback), *args, **kwargs)

        conn.ensure_connection = ensure_connection
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        # Celery closes the lost connection after collect() has detached its channels.
        # With a message held unacknowledged — a sweep wake-up waiting for its eta almost
        # always is — closing the channel tries to restore it through the detached
        # connection and raises AttributeError, which Celery does not ignore: the worker
        # exited ("Unrecoverable error") instead of reconnecting. Whatever closing raises,
        # the connection is gone; the message stays in the broker's unacked set and is
        # redelivered after the visibility timeout.
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_quietly() -> None:
                try:
                    close()
                except Exception:  # noqa: BLE001 — see above
                    logger.debug("Closing the lost broker connection failed", exc_info=True)

            connection.close = close_quietly
        super().on_connection_error_after_connected(exc)


def _now_and_then(errback: Callable | None) -> Callable | None:
    """``errback`` on the first failure and then once per RECONNECT_LOG_EVERY_SECONDS."""
    if errback is None:
        return None
    logged_at = [float("-inf")]

    def maybe_log(exc: BaseException, interval: float) -> None:
        now = time.monotonic()
        if now - logged_at[0] >= RECONNECT_LOG_EVERY_SECONDS:
            logged_at[0] = now
            errback(exc, interval)

    return maybe_log


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_to_start_without_a_key(**_kwargs) -> None:
    # Settings load without SECRET_KEY or servers (so makemigrations --check runs); a
    # worker or beat must not start so.
    from config.env import require_secret_key, require_servers

    require_secret_key()
    require_servers()
