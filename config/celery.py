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
"""

from __future__ import annotations

import os

from celery import Celery, signals
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
)
app.autodiscover_tasks()

from config.beat import BEAT_SCHEDULE  # noqa: E402  (after app exists; pure data)

app.conf.beat_schedule = BEAT_SCHEDULE


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_to_start_without_a_key(**_kwargs) -> None:
    # Settings load without SECRET_KEY (so migrations can run); a worker or beat must not.
    from config.env import require_secret_key

    require_secret_key()
