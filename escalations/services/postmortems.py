"""Root cause analyses: opening one when a case that needs it is resolved, saving one
(the admin's and the RCA page's door), and what its schedule makes true on the case.

An RCA is due a number of business days after it is started or after the case is
resolved, whichever comes first: an RCA started during the incident is scheduled at
once (so the Verify stage's "RCA scheduled" item is met before resolve), and resolving
keeps the due date it already has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from escalations.choices import ChecklistFact
from escalations.errors import RuleViolation, raise_all
from escalations.lib.text import long_text_error
from escalations.models import Incident, Postmortem, PostmortemActionItem, PostmortemStatus
from escalations.security.access import may_own_case, not_a_case_worker
from escalations.services.checklists import checklist_facts_tick
from escalations.services.common import audited_delete, audited_save
from escalations.sla.deadlines import WorkingDays, business_days_after

# What the RCA page edits on the RCA itself.
POSTMORTEM_FIELDS = ("summary", "root_cause", "contributing_factors", "what_went_well", "what_went_wrong", "status")


def postmortem_save(*, postmortem: Postmortem, actor, now: datetime) -> Postmortem:
    """Save the RCA as ``actor`` (every door that saves an RCA comes here). An RCA without
    a due date gets one: the policy's business days after it was started or after the
    case was resolved, whichever came first. A dated RCA is scheduled, so the case's
    "RCA scheduled" items tick themselves. Publishing stamps ``published_at``; going back
    to a draft clears it. A second RCA for one case is refused, naming ``incident``."""
    with transaction.atomic():
        # Locks the case row: an RCA's first save and the case's resolve take turns, so
        # exactly one of them opens the RCA and its due date counts from the earlier.
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("policy__calendar")
            .get(pk=postmortem.incident_id)
        )
        if postmortem.pk is None and Postmortem.objects.filter(incident=incident).exists():
            raise RuleViolation(f"{incident.reference} already has an RCA; edit that one.", field="incident")
        if postmortem.due_at is None:
            postmortem.due_at = rca_due_at(incident, start=rca_start(postmortem, incident=incident, now=now))
        if postmortem.status == PostmortemStatus.PUBLISHED and postmortem.published_at is None:
            postmortem.published_at = now
        elif postmortem.status != PostmortemStatus.PUBLISHED:
            postmortem.published_at = None
        audited_save(postmortem, actor=actor)
        checklist_facts_tick(incident=incident, facts={ChecklistFact.RCA_SCHEDULED}, actor=actor, now=now)
    return postmortem


def rca_start(postmortem: Postmortem, *, incident: Incident, now: datetime) -> datetime:
    """When the RCA's due date counts from: the case's resolve or the RCA's start,
    whichever came first. A new RCA starts ``now``; a saved one when it was first saved."""
    started = now
    if postmortem.pk is not None:
        first = postmortem.history.order_by("history_date", "history_id").values_list("history_date", flat=True)
        started = first.first() or now
    if incident.resolved_at is not None and incident.resolved_at < started:
        return incident.resolved_at
    return started


def rca_working_days(incident: Incident) -> WorkingDays:
    """The business days of the case's policy calendar: its working weekdays in its zone,
    less its holidays. A 24×7 calendar counts hours around the clock, but an RCA is
    written by people: its weekdays and holidays still say which days count."""
    calendar = incident.policy.calendar
    return WorkingDays(
        tz=calendar.timezone,
        workdays=calendar.weekday_numbers() or (0, 1, 2, 3, 4),
        holidays=frozenset(calendar.holidays.values_list("date", flat=True)),
        day_end=None if calendar.is_24x7 else calendar.day_end,
    )


def rca_due_at(incident: Incident, *, start: datetime) -> datetime:
    """When the case's RCA is due: the policy's number of business days after ``start``
    (the RCA's start or the case's resolve, whichever came first: ``rca_start``)."""
    return business_days_after(start, incident.policy.rca_due_business_days, rca_working_days(incident))


def rca_owner(incident: Incident, *, actor):
    """Who writes the RCA: the Incident Commander, else the stage DRI, else the resolver."""
    return incident.commander or incident.stage_dri or actor


def postmortem_open_on_resolve(*, incident: Incident, actor, now: datetime) -> Postmortem | None:
    """Called by ``incident_resolve`` inside its transaction: a case whose policy requires
    an RCA gets one, due within the policy's business days of the resolve. An RCA started
    before (or kept from an earlier resolve, after a reopen) is kept with its due date:
    one RCA per case, the OneToOne says so. Drills get none: they practise the response,
    not the review."""
    if incident.is_drill or not incident.policy.requires_rca:
        return None
    existing = Postmortem.objects.filter(incident=incident).first()
    if existing is not None:
        return existing
    summary = incident.title
    if incident.resolution:
        summary += f"\n\nResolution: {incident.resolution}"
    postmortem = Postmortem(incident=incident, author=rca_owner(incident, actor=actor), summary=summary)
    return postmortem_save(postmortem=postmortem, actor=actor, now=now)


@dataclass(frozen=True)
class ActionItemInput:
    """One row of the RCA page's action items: ``pk`` None for a new one."""

    pk: int | None
    description: str
    owner: object | None
    due_date: date | None
    done: bool
    delete: bool = False


def postmortem_write(
    *, incident: Incident, actor, now: datetime, values: dict, items: list[ActionItemInput]
) -> Postmortem:
    """The RCA page's save: the RCA's fields and its action items in one transaction, each
    changed row saved with ``actor`` in its history. Creates the RCA when the case has
    none yet, due as ``postmortem_save`` says (resolved or not). Raises RuleViolation
    naming the field at fault; the database is then unchanged."""
    errors: list[RuleViolation] = []
    values = {k: v for k, v in values.items() if k in POSTMORTEM_FIELDS}
    if "summary" in values:
        values["summary"] = (values["summary"] or "").strip()
        if not values["summary"]:
            errors.append(RuleViolation("Summarise what happened.", field="summary"))
    for name in POSTMORTEM_FIELDS:
        if message := long_text_error(values.get(name)):
            errors.append(RuleViolation(message, field=name, code="max_length"))
    if "status" in values and values["status"] not in PostmortemStatus.values:
        errors.append(RuleViolation("Choose a status.", field="status"))
    for index, item in enumerate(items):
        if item.delete:
            continue
        if not item.description.strip():
            errors.append(RuleViolation(f"Action item {index + 1}: describe the action.", field="description"))
        if item.owner is None:
            errors.append(RuleViolation(f"Action item {index + 1}: name its owner.", field="owner"))
        if item.due_date is None:
            errors.append(RuleViolation(f"Action item {index + 1}: give it a due date.", field="due_date"))
    raise_all(errors)
    with transaction.atomic():
        # Locks the case row: two people saving one RCA at once take turns.
        Incident.objects.select_for_update(of=("self",)).filter(pk=incident.pk).first()
        postmortem = Postmortem.objects.select_for_update().filter(incident=incident).first()
        if postmortem is None:
            postmortem = Postmortem(incident=incident, author=rca_owner(incident, actor=actor), summary="")
        # An RCA left undated by an older release is dated by any save.
        changed = postmortem.pk is None or postmortem.due_at is None
        for name, value in values.items():
            if getattr(postmortem, name) != value:
                setattr(postmortem, name, value)
                changed = True
        if changed:
            postmortem_save(postmortem=postmortem, actor=actor, now=now)
        _items_write(postmortem, items, actor=actor, now=now)
    return postmortem


def _items_write(postmortem: Postmortem, items: list[ActionItemInput], *, actor, now: datetime) -> None:
    existing = {
        item.pk: item for item in PostmortemActionItem.objects.select_for_update().filter(postmortem=postmortem)
    }
    for index, row in enumerate(items):
        if row.pk is not None and row.pk not in existing:
            raise RuleViolation(f"Action item {index + 1} is not one of this RCA's.", field="description")
        item = existing.get(row.pk) if row.pk is not None else None
        if row.delete:
            if item is not None:
                audited_delete(item, actor=actor)
            continue
        if item is None:
            item = PostmortemActionItem(postmortem=postmortem)
        values = {
            "description": row.description.strip(),
            "owner_id": row.owner.pk if row.owner is not None else None,
            "due_date": row.due_date,
        }
        if row.done and item.done_at is None:
            values["done_at"] = now
        elif not row.done and item.done_at is not None:
            values["done_at"] = None
        dirty = [name for name, value in values.items() if getattr(item, name) != value]
        if item.pk is not None and not dirty:
            continue
        # An owner is named as a case's owner is; one who has since left keeps the items
        # already theirs until someone reassigns them.
        if "owner_id" in dirty and not may_own_case(row.owner):
            raise RuleViolation(
                f"Action item {index + 1}: {not_a_case_worker(row.owner.pk)}", field="owner", code="does_not_exist"
            )
        for name in dirty:
            setattr(item, name, values[name])
        audited_save(item, actor=actor)


__all__ = [
    "ActionItemInput",
    "postmortem_open_on_resolve",
    "postmortem_save",
    "postmortem_write",
    "rca_due_at",
    "rca_start",
    "rca_working_days",
]
