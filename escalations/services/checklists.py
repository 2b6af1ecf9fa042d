"""SOP checklists on a case: made from the matching templates, ticked by people, and
the exit criteria that gate leaving a stage."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from escalations.choices import STAGE_ORDER, ChecklistFact, EventKind
from escalations.errors import RuleViolation
from escalations.models import Checklist, ChecklistItem, Incident, Postmortem
from escalations.selectors.policies import PolicyTables, TemplateSpec, policy_tables
from escalations.services.common import (
    STATE_FIELDS,
    audited_insert,
    audited_save,
    bump_version,
    event_record,
    incident_lock,
)


def matching_templates(incident: Incident, *, tables: PolicyTables | None = None) -> list[TemplateSpec]:
    """The active SOP templates for the case's severity and category (a blank template
    field matches any), by stage then name."""
    return (tables or policy_tables()).templates_for(severity=incident.severity, category=incident.category)


def checklists_instantiate(
    *, incident: Incident, actor, new_case: bool = False, tables: PolicyTables | None = None
) -> list[Checklist]:
    """Create a checklist for each matching SOP template the case does not have yet
    (called at intake, with ``new_case`` since it has none, and after a severity change).
    Two statements whatever the number of templates and items: the checklists, then the
    items, each with its history rows recording ``actor``."""
    matching = matching_templates(incident, tables=tables)
    have = set()
    if not new_case:
        have = set(incident.checklists.exclude(template=None).values_list("template_id", flat=True))
        checklists_mark_applying(incident, {t.pk for t in matching}, actor=actor)
    # In stage order, so the checklists (and every list of their items) read as the case runs.
    stage_rank = {str(stage): rank for rank, stage in enumerate(STAGE_ORDER)}
    templates = sorted((t for t in matching if t.pk not in have), key=lambda t: (stage_rank[t.stage], t.name))
    if not templates:
        return []
    checklists = [
        Checklist(incident=incident, template_id=t.pk, stage=t.stage, title=t.name, play=t.play) for t in templates
    ]
    checklists = audited_insert(checklists, actor=actor)
    linked = {item.fact for template in templates for item in template.items if item.fact}
    holds = facts_holding(incident, new_case=new_case, only=linked) if linked else {}
    items = [
        ChecklistItem(checklist=checklist, order=item.order, text=item.text, required=item.required, fact=item.fact)
        for checklist, template in zip(checklists, templates, strict=True)
        for item in template.items
    ]
    for item in items:
        # A fact already true when the checklist is made (a commander named before the
        # case reached this stage) ticks its item at once, as the person who made it so.
        if item.fact in holds:
            item.done_at, item.done_by_id = holds[item.fact]
    audited_insert(items, actor=actor)
    return checklists


def checklists_mark_applying(incident: Incident, template_ids: set[int], *, actor) -> None:
    """After a severity change: the checklists of templates that no longer match stop
    applying (done items kept, open ones no longer gate the stage); those that match
    again apply again."""
    for checklist in incident.checklists.exclude(template=None):
        applies = checklist.template_id in template_ids
        if checklist.applies != applies:
            checklist.applies = applies
            audited_save(checklist, actor=actor, update_fields=["applies"])


def facts_holding(incident: Incident, *, new_case: bool = False, only: set[str] | None = None) -> dict[str, tuple]:
    """The checklist facts true for the case now (of ``only``, when given) → (when, who
    id) each became true, from the case's own record: the acknowledgement, the first
    update, the event that named the commander or linked the bridge, the RCA's history.
    A case being opened has nothing recorded yet beyond its own fields."""
    wanted = set(ChecklistFact.values) if only is None else only
    holds: dict[str, tuple] = {}
    if ChecklistFact.ACKNOWLEDGED in wanted and incident.acknowledged_at:
        holds[ChecklistFact.ACKNOWLEDGED] = (incident.acknowledged_at, incident.acknowledged_by_id)
    opened = (incident.reported_at, incident.created_by_id)
    for fact, field, value in (
        (ChecklistFact.COMMANDER_SET, "commander", incident.commander_id),
        (ChecklistFact.BRIDGE_LINKED, "bridge_url", incident.bridge_url),
    ):
        if fact in wanted and value:
            event = None
            if not new_case:
                event = (
                    incident.events.filter(new__has_key=field)
                    .order_by("-at", "-id")
                    .values_list("at", "actor_id")
                    .first()
                )
            holds[fact] = event or opened
    if new_case:
        return holds
    if ChecklistFact.FIRST_CUSTOMER_UPDATE in wanted:
        first = incident.customer_updates.order_by("posted_at", "id").values_list("posted_at", "posted_by_id").first()
        if first:
            holds[ChecklistFact.FIRST_CUSTOMER_UPDATE] = first
    if ChecklistFact.RCA_SCHEDULED in wanted:
        rca = (
            Postmortem.history.filter(incident_id=incident.pk, due_at__isnull=False)
            .order_by("history_date")
            .values_list("history_date", "history_user_id")
            .first()
        )
        if rca:
            holds[ChecklistFact.RCA_SCHEDULED] = rca
    return holds


def checklist_facts_tick(*, incident: Incident, facts: set[str], actor, now: datetime) -> int:
    """Tick the case's open items linked to ``facts`` (which just became true), as
    ``actor`` at ``now``, each with a timeline event. Called by the service that made
    the fact true, inside its transaction."""
    items = list(
        ChecklistItem.objects.select_for_update()
        .filter(checklist__incident=incident, fact__in=facts, done_at__isnull=True)
        .order_by("checklist_id", "order")
    )
    for item in items:
        item.done_at, item.done_by = now, actor
        audited_save(item, actor=actor, update_fields=["done_at", "done_by"])
        event_record(
            incident=incident,
            kind=EventKind.CHECKLIST_ITEM_DONE,
            actor=actor,
            at=now,
            new={"item": item.text, "done": True, "fact": item.fact},
            detail=f"{item.text} (ticked by the fact: {ChecklistFact(item.fact).label.lower()})",
        )
    return len(items)


def open_required_items(incident: Incident, stage: str) -> list[ChecklistItem]:
    return list(
        ChecklistItem.objects.filter(
            checklist__incident=incident,
            checklist__stage=stage,
            checklist__applies=True,
            required=True,
            done_at__isnull=True,
        ).order_by("checklist_id", "order")
    )


def require_stage_exit(incident: Incident, *, action: str) -> None:
    """Refuse to leave the current stage while its required SOP items are open."""
    missing = open_required_items(incident, incident.stage)
    if missing:
        names = "; ".join(item.text for item in missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise RuleViolation(
            f"Cannot {action}: required checklist items of the {incident.get_stage_display()} stage are open: "
            f"{names}{more}.",
            field="checklist",
            code="checklist_open",
        )


def checklist_item_set_done(
    *, item: ChecklistItem | int, done: bool, actor, now: datetime, expected_version: int | None = None
) -> ChecklistItem:
    """Tick (or untick) one item. The case's version is bumped: a tick is a change, and
    one made from a stale page is refused like any other."""
    pk = item.pk if isinstance(item, ChecklistItem) else item
    with transaction.atomic():
        incident_id = ChecklistItem.objects.filter(pk=pk).values_list("checklist__incident_id", flat=True).first()
        if incident_id is None:
            raise RuleViolation("No such checklist item.", field="item", code="not_found")
        incident = incident_lock(
            incident_id, expected_version=expected_version, depends_on=(*STATE_FIELDS, "severity", "stage")
        )
        if not incident.is_open:
            raise RuleViolation("The case is not open; reopen it to change its checklist.", field="status")
        locked = ChecklistItem.objects.select_for_update().get(pk=pk)
        if locked.is_done == done:
            return locked
        if locked.fact:
            label = ChecklistFact(locked.fact).label
            true = locked.fact in facts_holding(incident, only={locked.fact})
            if done and not true:
                raise RuleViolation(
                    f"“{locked.text}” ticks itself when it is true ({label.lower()}); it is not yet.",
                    field="done",
                    code="fact_not_true",
                )
            if not done and true:
                raise RuleViolation(
                    f"“{locked.text}” stands for a fact that is true ({label.lower()}); it cannot be unticked.",
                    field="done",
                    code="fact_true",
                )
        locked.done_at, locked.done_by = (now, actor) if done else (None, None)
        audited_save(locked, actor=actor, update_fields=["done_at", "done_by"])
        incident.last_progress_at = now
        audited_save(incident, actor=actor, update_fields=bump_version(incident, ["last_progress_at"]))
        event_record(
            incident=incident,
            kind=EventKind.CHECKLIST_ITEM_DONE if done else EventKind.CHECKLIST_ITEM_REOPENED,
            actor=actor,
            at=now,
            new={"item": locked.text, "done": done},
            detail=locked.text,
        )
        return locked
