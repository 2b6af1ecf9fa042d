"""Overdue RCAs and action items: a deadline like any other. Past due, the owner is told
(in-app and email); ``grace`` later, the Managers. Each stage of each deadline is told
once: an RcaReminder row, unique per deadline and stage, is written in the transaction
that writes the notifications, so two checks racing cannot both tell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from escalations.choices import NotificationChannel
from escalations.models import Incident, Postmortem, PostmortemActionItem, RcaReminder, ReminderStage
from escalations.security.roles import MANAGERS
from escalations.selectors.rca import overdue_action_items, overdue_postmortems
from escalations.services.common import audited_create, audited_save
from escalations.services.engine.roster import Recipient
from escalations.services.notifications import notification_build, notifications_enqueue_on_commit


@dataclass(frozen=True)
class Deadline:
    """One overdue deadline: an RCA's, or (``item`` set) one of its action items'."""

    postmortem: Postmortem
    item: PostmortemActionItem | None
    due_at: datetime
    owner: object | None

    @property
    def incident(self) -> Incident:
        return self.postmortem.incident

    def key(self, stage: str) -> str:
        what = f"action-item:{self.item.pk}" if self.item is not None else f"rca:{self.postmortem.pk}"
        return f"{what}:{self.due_at.isoformat()}:{stage}"


def rca_url(incident_id: int) -> str:
    # By hand, like services.notifications.case_url: the contract is /cases/<pk>/rca/.
    return f"{settings.SITE_URL}/cases/{incident_id}/rca/"


def person_recipients(people) -> list[Recipient]:
    """In-app for everyone, email for those with an address; each person once."""
    out: list[Recipient] = []
    seen: set[int] = set()
    for person in people:
        if person is None or person.pk in seen or not person.is_active:
            continue
        seen.add(person.pk)
        label = person.get_full_name() or person.get_username()
        out.append(Recipient(NotificationChannel.IN_APP, person.pk, "", label))
        if person.email:
            out.append(Recipient(NotificationChannel.EMAIL, person.pk, person.email, label))
    return out


def managers() -> list:
    return list(get_user_model().objects.filter(is_active=True, groups__name=MANAGERS).distinct().order_by("pk"))


def rca_deadlines_check(*, now: datetime, grace: timedelta, actor) -> dict[str, int]:
    """Tell every stage now due of every overdue RCA and action item that has not been
    told. Returns how many stages were told, by kind. Idempotent: a second run at the
    same ``now`` tells nothing."""
    deadlines = [
        Deadline(postmortem, None, postmortem.due_at, postmortem.author)
        for postmortem in overdue_postmortems(now=now).select_related("incident__policy__calendar")
    ]
    deadlines += [
        Deadline(o.item.postmortem, o.item, o.due_at, o.item.owner or o.item.postmortem.author)
        for o in overdue_action_items(now=now)
    ]
    if not deadlines:
        return {"rca": 0, "action_item": 0}
    told = _already_told(deadlines)
    manager_list: list | None = None
    counts = {"rca": 0, "action_item": 0}
    for deadline in deadlines:
        for stage, from_ in ((ReminderStage.OWNER, deadline.due_at), (ReminderStage.MANAGER, deadline.due_at + grace)):
            if now < from_ or (_identity(deadline), stage, deadline.due_at) in told:
                continue
            if stage == ReminderStage.MANAGER and manager_list is None:
                manager_list = managers()
            people = [deadline.owner] if stage == ReminderStage.OWNER else manager_list
            if _tell(deadline, stage, people, now=now, actor=actor):
                counts["action_item" if deadline.item is not None else "rca"] += 1
    return counts


def _identity(deadline: Deadline) -> tuple[str, int]:
    return ("item", deadline.item.pk) if deadline.item is not None else ("rca", deadline.postmortem.pk)


def _already_told(deadlines: list[Deadline]) -> set[tuple[tuple[str, int], str, datetime]]:
    rca_ids = [d.postmortem.pk for d in deadlines if d.item is None]
    item_ids = [d.item.pk for d in deadlines if d.item is not None]
    rows = RcaReminder.objects.filter(postmortem_id__in=rca_ids, action_item__isnull=True).values_list(
        "postmortem_id", "action_item_id", "stage", "due_at"
    )
    told = {(("rca", pm), stage, due) for pm, _, stage, due in rows}
    rows = RcaReminder.objects.filter(action_item_id__in=item_ids).values_list("action_item_id", "stage", "due_at")
    told |= {(("item", item), stage, due) for item, stage, due in rows}
    return told


def _tell(deadline: Deadline, stage: str, people, *, now: datetime, actor) -> bool:
    """Record the stage and write its notifications, in one transaction; False when
    another check recorded it first (the unique constraint)."""
    try:
        with transaction.atomic():
            audited_create(
                RcaReminder,
                history_user=actor,
                postmortem=deadline.postmortem,
                action_item=deadline.item,
                stage=stage,
                due_at=deadline.due_at,
                sent_at=now,
            )
            subject, text = _message(deadline, stage)
            rows = [
                notification_build(
                    incident=deadline.incident,
                    recipient=recipient,
                    kind="rca_overdue",
                    key=deadline.key(stage),
                    subject=subject,
                    text=text,
                    now=now,
                )
                for recipient in person_recipients(people)
            ]
            for row in rows:
                # The owner's next step is the RCA page, not the case page.
                row.payload["links"]["rca"] = rca_url(deadline.incident.pk)
                audited_save(row, actor=actor)
            notifications_enqueue_on_commit(rows)
    except IntegrityError:
        return False
    return True


def _due_text(deadline: Deadline) -> str:
    zone = deadline.incident.policy.calendar.timezone
    at = deadline.due_at.astimezone(ZoneInfo(zone))
    return f"{at.day} {at:%b %Y %H:%M} ({zone})"


def _message(deadline: Deadline, stage: str) -> tuple[str, str]:
    incident = deadline.incident
    owner = deadline.owner
    owner_name = (owner.get_full_name() or owner.get_username()) if owner is not None else "nobody"
    if deadline.item is not None:
        what = f"RCA action item “{deadline.item.description}”"
    else:
        what = "Root cause analysis"
    subject = f"Overdue: {what} for {incident.reference} {incident.title}"
    text = f"{what} for {incident.reference} ({incident.title}) was due {_due_text(deadline)}; owner: {owner_name}."
    if stage == ReminderStage.MANAGER:
        text += " The owner was told when it fell due; it is still open."
    return subject, text


__all__ = ["person_recipients", "rca_deadlines_check"]
