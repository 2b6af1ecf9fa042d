"""How stored field names and values read to a person: labels instead of column names,
durations instead of seconds, times in the viewer's zone instead of ISO strings. The
timeline, the conflict table and the audit pages all render through these."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone

from escalations.choices import (
    BreachCause,
    ClockKind,
    HandoffStatus,
    PauseReason,
    Sentiment,
    SeveritySource,
    Stage,
    Status,
)
from escalations.lib.text import duration_text
from escalations.models import Incident

LABELS = {
    "ack_target_seconds": "Acknowledge target",
    "resolve_target_seconds": "Resolve target",
    "update_cadence_seconds": "Customer update cadence",
    "stage_dri": "Stage DRI",
    "commander": "Incident Commander",
    "arr_at_risk": "ARR at risk (USD)",
    "users_affected_pct": "Users affected (%)",
    "bridge_url": "Incident bridge",
    "clock": "Clock",
    "due_at": "Due",
    "warn_at": "Warning at",
    "detected_late_seconds": "Detected late by",
    "acknowledged_at": "Acknowledged",
    "resolved_at": "Resolved",
    "closed_at": "Closed",
    "paused_since": "Paused since",
    "severity_source": "Severity set by",
    "source": "Severity set by",
    "cause": "Cause",
    "cause_note": "Cause note",
    "suggested": "Suggested cause",
}
CHOICES = {
    "status": dict(Status.choices),
    "stage": dict(Stage.choices),
    "to_stage": dict(Stage.choices),
    "pause_reason": dict(PauseReason.choices),
    "reason": dict(PauseReason.choices),
    "sentiment": dict(Sentiment.choices),
    "clock": dict(ClockKind.choices),
    "severity_source": dict(SeveritySource.choices),
    "source": dict(SeveritySource.choices),
    # The shipped causes' labels; a cause a Policy Admin added reads as its code here.
    "cause": dict(BreachCause.choices),
    "suggested": dict(BreachCause.choices),
    "handoff_status": dict(HandoffStatus.choices),
}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def person_name(user, *, nobody: str = "nobody") -> str:
    """A person as pages name them: full name, else username."""
    if user is None:
        return nobody
    return user.get_full_name() or user.get_username()


def field_label(name: str) -> str:
    """``ack_target_seconds`` → "Acknowledge target"; a case field's verbose name else."""
    if name in LABELS:
        return LABELS[name]
    try:
        label = str(Incident._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        label = name.replace("_", " ")
    return label[:1].upper() + label[1:]


def local_time(value: datetime) -> str:
    at = timezone.localtime(value)
    return f"{at.day} {at:%b %Y %H:%M:%S}"


def value_text(name: str, value: object) -> str:
    """A stored value as a person reads it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and name.endswith("_seconds"):
        return duration_text(timedelta(seconds=value))
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, str) and ISO_TIME.match(value):
        try:
            return local_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, str) and name in CHOICES:
        return str(CHOICES[name].get(value, value))
    if isinstance(value, list):
        return ", ".join(value_text(name, item) for item in value) or "—"
    if isinstance(value, dict):
        return value.get("label") or ", ".join(f"{field_label(k)}: {value_text(k, v)}" for k, v in value.items())
    return str(value)


def labelled_changes(changed: dict) -> list[tuple[str, str, str]]:
    """``{field: [old, new]}`` → [(label, old text, new text)]."""
    return [(field_label(name), value_text(name, old), value_text(name, new)) for name, (old, new) in changed.items()]
