"""The safety-critical periodic jobs. This is code, reviewed like code: the sweep must
not depend on an admin remembering to schedule it.

Run exactly one beat (``celery -A config beat``). A second beat is harmless — every
sweep claims its rows with SELECT … FOR UPDATE SKIP LOCKED and the unique constraints on
breaches, warnings and escalation levels reject a duplicate — it only doubles the
number of (cheap) sweeps and retry passes.
"""

from __future__ import annotations

from config.env import env_float

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
}
