"""Customer updates: the cadence clock restarts with each one posted."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from escalations.choices import (
    OPEN_STATUSES,
    ChecklistFact,
    EventKind,
)
from escalations.errors import InvalidTransition, RuleViolation
from escalations.lib.text import long_text_error
from escalations.models import (
    Channel,
    CustomerUpdate,
    Incident,
)
from escalations.services.checklists import checklist_facts_tick
from escalations.services.clocks import incident_save_with_clocks
from escalations.services.common import STATE_FIELDS, audited_create, event_record, incident_lock


def customer_update_post(
    *,
    incident: Incident | int,
    body: str,
    channel: Channel | None,
    actor,
    now: datetime,
    expected_version: int | None = None,
) -> CustomerUpdate:
    """Log an update sent to the customer; the next one is due a cadence from now."""
    body = (body or "").strip()
    if not body:
        raise RuleViolation("Write the update you sent to the customer.", field="body")
    if message := long_text_error(body):
        raise RuleViolation(message, field="body", code="max_length")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("The case is resolved; reopen it to post updates.", field="status")
        channel = channel or incident.channel
        was_late = bool(incident.next_update_due_at and now > incident.next_update_due_at)
        update = audited_create(
            CustomerUpdate,
            history_user=actor,
            incident=incident,
            body=body,
            channel=channel,
            posted_at=now,
            posted_by=actor,
            was_late=was_late,
        )
        incident.last_customer_update_at = now
        incident.last_progress_at = now
        incident.update_seq += 1
        incident.update_warned_at = incident.update_breached_at = None
        incident_save_with_clocks(
            incident,
            actor=actor,
            now=now,
            fields=[
                "last_customer_update_at",
                "last_progress_at",
                "update_seq",
                "update_warned_at",
                "update_breached_at",
            ],
        )
        event_record(
            incident=incident,
            kind=EventKind.CUSTOMER_UPDATED,
            actor=actor,
            at=now,
            new={"channel": channel.slug, "late": was_late, "next_update_due_at": incident.next_update_due_at},
            detail=body[:500],
        )
        checklist_facts_tick(incident=incident, facts={ChecklistFact.FIRST_CUSTOMER_UPDATE}, actor=actor, now=now)
        return update
