"""Paging at intake: a case whose policy pages (S1, S2 by default) notifies the on-duty
Support Duty Manager at once, and the Incident Commander when the policy requires one.
The acknowledge clock then measures how fast somebody answers; an unanswered page
breaches that clock and the breach sweep takes it up the escalation chain."""

from __future__ import annotations

from datetime import datetime

from escalations.choices import EventKind, NotificationChannel
from escalations.models import Incident, Notification
from escalations.services.common import audited_save, event_record, system_user
from escalations.services.escalation import commanders, duty_managers, recipients_for, roster_load
from escalations.services.notifications import notification_build, notifications_enqueue_on_commit

PAGE_CHANNELS = (NotificationChannel.IN_APP, NotificationChannel.EMAIL)


def incident_page_on_intake(*, incident: Incident, now: datetime) -> list[Notification]:
    """Write the page notifications and the ``paged`` event inside the intake
    transaction; delivery is published after commit. Drill cases get suppressed rows
    (so the drill shows who would have been paged) and reach nobody real."""
    policy = incident.policy
    if not policy.pages_on_intake:
        return []
    actor = incident.created_by or system_user()
    roster = roster_load(at=now, team_ids=[incident.team_id] if incident.team_id else [])
    targets: list[tuple[str, list]] = [("duty_manager", duty_managers(incident, roster))]
    if policy.requires_commander:
        targets.append(("commander", commanders(incident, roster)))
    notifications: list[Notification] = []
    paged: list[dict] = []
    seen: set[str] = set()
    text_base = f"[{incident.severity}] {incident.reference} {incident.title} — paged at intake"
    for role, people in targets:
        for recipient in recipients_for(people, PAGE_CHANNELS, incident=incident, roster=roster):
            row = notification_build(
                incident=incident,
                recipient=recipient,
                kind="page",
                key=f"page:{incident.pk}:{role}",
                subject=f"Page: {incident.severity} {incident.reference} {incident.title}",
                text=f"{text_base} as {role.replace('_', ' ')}. Acknowledge within "
                f"{incident.ack_target_seconds // 60} min.",
                now=now,
            )
            if row.idempotency_key in seen:
                continue
            seen.add(row.idempotency_key)
            audited_save(row, actor=actor)
            notifications.append(row)
            if recipient.channel == NotificationChannel.IN_APP:
                paged.append({"role": role, "user": recipient.user_id, "name": recipient.label})
    event_record(
        incident=incident,
        kind=EventKind.PAGED,
        actor=actor,
        at=now,
        new={"paged": paged, "drill": incident.is_drill},
        detail=(
            ("Drill: would page " if incident.is_drill else "Paged ")
            + (", ".join(f"{p['name']} ({p['role'].replace('_', ' ')})" for p in paged) or "nobody — no one on duty")
        ),
    )
    notifications_enqueue_on_commit(notifications)
    return notifications


__all__ = ["incident_page_on_intake"]
