"""Is the sweep alive? Read by /healthz, the sweep_breaches command and the admin."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from escalations.models import Incident, SweepHeartbeat


def sweep_status(*, now: datetime) -> dict:
    """Is the sweep alive? The latest heartbeat, its age, and whether that is stale
    (older than SWEEP_STALE_AFTER_SECONDS). Used by /healthz, the sweep_breaches
    command (--status) and the admin."""
    stale_after = settings.SWEEP_STALE_AFTER_SECONDS
    last = SweepHeartbeat.objects.order_by("-finished_at").first()
    # Cases due longer ago than the stale window and still not handled: a sweep that
    # runs but cannot keep up (or keeps failing on them) shows here.
    backlog = Incident.objects.filter(next_check_at__lte=now - timedelta(seconds=stale_after)).count()
    if last is None:
        return {"ok": False, "stale": True, "reason": "no sweep has run yet", "last": None,
                "stale_after_seconds": stale_after, "backlog": backlog}  # fmt: skip
    age = (now - last.finished_at).total_seconds()
    stale = age > stale_after
    reason = f"last sweep finished {int(age)} s ago" if stale else ""
    if backlog and not stale:
        reason = f"{backlog} case(s) overdue for the sweep by more than {stale_after} s"
    return {
        "ok": not stale and not backlog,
        "stale": stale,
        "reason": reason,
        "stale_after_seconds": stale_after,
        "age_seconds": round(age, 1),
        "backlog": backlog,
        "last": {
            "started_at": last.started_at.isoformat(),
            "finished_at": last.finished_at.isoformat(),
            "source": last.source,
            "examined": last.examined,
            "breaches": last.breaches,
            "warnings": last.warnings,
            "escalations": last.escalations,
            "errors": last.errors,
            "duration_ms": last.duration_ms,
        },
    }
