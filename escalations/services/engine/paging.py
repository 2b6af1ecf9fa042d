"""Paging at intake: a case whose policy pages (S1, S2 by default) notifies the on-duty
Support Duty Manager at once, and the Incident Commander when the policy requires one.
The acknowledge clock then measures how fast somebody answers; an unanswered page
breaches that clock and the breach sweep takes it up the escalation chain.

Intake builds the page rows and the ``paged`` event here and writes them with its own
rows, in its transaction; delivery is published after commit."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model

from escalations.choices import EventKind, NotificationChannel
from escalations.models import CaseEvent, Incident, Notification, ShiftRole
from escalations.security.roles import DUTY_MANAGERS
from escalations.services.common import audited_insert, event_build
from escalations.services.engine.roster import Roster, commanders, duty_managers, recipients_for, shifts_on_duty
from escalations.services.notifications import notification_build, notifications_enqueue_on_commit

PAGE_CHANNELS = (NotificationChannel.IN_APP, NotificationChannel.EMAIL)


def paging_roster(*, incident: Incident, at: datetime) -> Roster:
    """The part of the roster a page at intake reads, in one query (two when nobody is on
    shift as Duty Manager): the shifts at ``at`` of the roles paged, and the Duty
    Managers group only when it is the fallback. ``roster_load`` would also read every
    escalation chain and both role groups, which intake never uses."""
    roles = [ShiftRole.DUTY_MANAGER]
    if incident.policy.requires_commander and incident.commander_id is None:
        roles.append(ShiftRole.COMMANDER)
    roster = Roster(at=at)
    roster.shifts = shifts_on_duty(at=at, roles=roles)
    if not roster.on_shift(ShiftRole.DUTY_MANAGER, incident.team_id):
        roster.group_members[DUTY_MANAGERS] = list(
            get_user_model().objects.filter(groups__name=DUTY_MANAGERS, is_active=True).order_by("pk")
        )
    return roster


def intake_page_build(*, incident: Incident, now: datetime, actor) -> tuple[list[Notification], CaseEvent | None]:
    """The unsaved page notifications and ``paged`` event for a new case (none when its
    policy does not page), so intake writes them with its other rows in bulk. Drill
    cases get suppressed rows (so the drill shows who would have been paged) and reach
    nobody real."""
    policy = incident.policy
    if not policy.pages_on_intake:
        return [], None
    roster = paging_roster(incident=incident, at=now)
    targets: list[tuple[str, list]] = [("duty_manager", duty_managers(incident, roster))]
    if policy.requires_commander:
        targets.append(("commander", commanders(incident, roster)))
    # One page per person and channel, naming every role it reaches them in (a Duty
    # Manager on shift as Incident Commander too gets one page, not two).
    reached: dict[tuple[str, str], tuple] = {}
    for role, people in targets:
        for recipient in recipients_for(people, PAGE_CHANNELS, incident=incident, roster=roster):
            _, roles = reached.setdefault((recipient.key, recipient.channel), (recipient, []))
            if role not in roles:
                roles.append(role)
    notifications: list[Notification] = []
    paged: list[dict] = []
    text_base = f"[{incident.severity}] {incident.reference} {incident.title} — paged at intake"
    for recipient, roles in reached.values():
        as_roles = " and ".join(role.replace("_", " ") for role in roles)
        notifications.append(
            notification_build(
                incident=incident,
                recipient=recipient,
                kind="page",
                key=f"page:{incident.pk}",
                subject=f"Page: {incident.severity} {incident.reference} {incident.title}",
                text=f"{text_base} as {as_roles}. Acknowledge within {incident.ack_target_seconds // 60} min.",
                now=now,
            )
        )
        if recipient.channel == NotificationChannel.IN_APP:
            paged.append({"role": " and ".join(roles), "user": recipient.user_id, "name": recipient.label})
    event = event_build(
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
    return notifications, event


def pages_save(notifications: list[Notification], *, actor) -> list[Notification]:
    """Insert the page rows with their history (``actor`` in it) in one statement, and
    publish their delivery once the transaction commits."""
    notifications = audited_insert(notifications, actor=actor)
    notifications_enqueue_on_commit(notifications)
    return notifications


__all__ = ["intake_page_build", "pages_save", "paging_roster"]
