"""The safety-critical periodic jobs. This is code, reviewed like code: the sweep must
not depend on an admin remembering to schedule it."""

from __future__ import annotations

from config.env import env_float

SWEEP_INTERVAL = env_float("SWEEP_INTERVAL_SECONDS", 10.0)

BEAT_SCHEDULE: dict[str, dict] = {
    "sweep-breaches": {
        "task": "escalations.sweep_breaches",
        "schedule": SWEEP_INTERVAL,
        # A sweep that could not start within one interval is pointless: the next
        # one will run anyway.
        "options": {"expires": SWEEP_INTERVAL},
    },
    "retry-notifications": {
        "task": "escalations.retry_notifications",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
}
