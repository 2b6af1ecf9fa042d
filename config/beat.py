"""The safety-critical periodic jobs. This is code, reviewed like code: the sweep must
not depend on an admin remembering to schedule it.

Run exactly one beat (``celery -A config beat``). A second beat is harmless — every
sweep claims its rows with SELECT … FOR UPDATE SKIP LOCKED and the unique constraints on
breaches, warnings and escalation levels reject a duplicate — it only doubles the
number of (cheap) sweeps and retry passes.

While the broker is down the beat cannot publish; ``Scheduler`` then runs the sweep in
the beat's own process, straight from the database, so breaches, escalations and their
outbox rows are recorded on time and only the deliveries wait for the broker.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry, SchedulingError

from config.env import env_float

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = env_float("SWEEP_INTERVAL_SECONDS", 10.0)
RETRY_INTERVAL = env_float("NOTIFICATION_RETRY_INTERVAL_SECONDS", 30.0)

BEAT_SCHEDULE: dict[str, dict] = {
    # Breaches, the 75 % warnings, chain steps and handoff time boxes: one index scan
    # on next_check_at finds them all, so one job covers them.
    "sweep-breaches": {
        "task": "escalations.sweep_breaches",
        "schedule": SWEEP_INTERVAL,
        # A sweep that could not start within one interval is pointless: the next
        # one will run anyway (and queued-up sweeps after a broker outage collapse).
        "options": {"expires": SWEEP_INTERVAL},
    },
    "retry-notifications": {
        "task": "escalations.retry_notifications",
        "schedule": RETRY_INTERVAL,
        "options": {"expires": RETRY_INTERVAL},
    },
    # The weekly figures of complete weeks, computed once and kept (escalations.services.review_weeks):
    # the first run after Monday 00:00 UTC computes the week just ended (about a second at
    # a million cases); until then the review page, the API and the digest say the week
    # is being computed (no request computes it). The other runs are one query.
    "keep-review-weeks": {
        "task": "escalations.keep_review_weeks",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    # One-time form tokens older than a week (escalations.services.submissions).
    "purge-form-tokens": {
        "task": "escalations.purge_form_tokens",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Overdue RCAs and action items: owner, then Managers (each stage once, DB-unique).
    "check-rca-deadlines": {
        "task": "escalations.check_rca_deadlines",
        "schedule": 900.0,
        "options": {"expires": 900.0},
    },
    # The weekly digest: its slot (DigestSchedule, edited in the admin) is in each
    # recipient's own zone, so it is checked every quarter hour, not fired at one instant.
    "send-weekly-digest": {
        "task": "escalations.send_weekly_digest",
        "schedule": 900.0,
        "options": {"expires": 900.0},
    },
}


# Jobs the beat runs itself when it cannot publish them. The retry pass is not one: it
# only publishes deliveries, which need the broker anyway.
RUN_HERE_WHEN_BROKER_DOWN = frozenset({"escalations.sweep_breaches"})


class Scheduler(PersistentScheduler):
    """Celery's file-backed scheduler, plus: a sweep that cannot be published (the broker
    is down) runs here instead (``escalations.tasks.sweep_breaches_here``). A publish that
    failed but in fact reached the broker only makes two sweeps, which is harmless (see
    above). Publish failures are counted and logged once a minute (escalations.lib.outages),
    not once per entry."""

    @cached_property
    def producer(self) -> Any:
        # Celery's waits for the broker before the first tick, retrying forever: a beat
        # started while the broker is down would never tick, so never sweep. This one
        # connects when it publishes (for at most the broker connection timeout), and a
        # publish that fails falls back to sweeping here.
        return self.Producer(self.connection, auto_declare=False)

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        from escalations.lib.outages import BROKER

        try:
            result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        except SchedulingError as exc:
            BROKER.failed(exc.__cause__ or exc)
            if entry.task not in RUN_HERE_WHEN_BROKER_DOWN:
                return None
            from escalations.tasks import sweep_breaches_here

            try:
                sweep_breaches_here()
            except Exception:  # the database too: say so, and keep the beat alive for the next tick
                logger.exception("The beat could not run the sweep itself either")
            return None
        BROKER.succeeded()
        return result
