"""Intake: a new case from a form, the API or an integration."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from escalations.choices import EventKind, SeveritySource, Status
from escalations.errors import NotAllowed, RuleViolation, ServiceError, raise_all
from escalations.lib.text import long_text_error, one_line
from escalations.models import CaseEvent, Channel, Customer, Incident, Team
from escalations.security.access import (
    is_integration,
    may_own_case,
    may_set_below_floor,
    may_start_drill,
    not_a_case_worker,
)
from escalations.selectors.policies import DEFAULT_SEVERITY, policy_for, policy_tables, triggers_evaluate
from escalations.services.checklists import checklists_instantiate
from escalations.services.clocks import cycle_open, incident_recompute_clocks, policy_snapshot
from escalations.services.common import audited_insert, event_build, events_save
from escalations.services.engine.paging import intake_page_build, pages_save
from escalations.sla import SEVERITY_ORDER, below_floor, severity_rank

# Clock skew tolerated between an integration's clock and ours.
FUTURE_TOLERANCE = timedelta(minutes=1)


def clean_impact(*, arr_at_risk, users_affected_pct) -> tuple[Decimal, Decimal]:
    """Validate the numeric impact facts, naming the field at fault."""
    try:
        arr = Decimal(str(arr_at_risk if arr_at_risk not in (None, "") else 0))
    except InvalidOperation:
        raise RuleViolation("ARR at risk must be a number.", field="arr_at_risk") from None
    try:
        pct = Decimal(str(users_affected_pct if users_affected_pct not in (None, "") else 0))
    except InvalidOperation:
        raise RuleViolation("Users affected must be a number.", field="users_affected_pct") from None
    if not arr.is_finite() or arr < 0:
        raise RuleViolation("ARR at risk cannot be negative.", field="arr_at_risk")
    if arr >= Decimal("1e12"):
        raise RuleViolation("ARR at risk is too large.", field="arr_at_risk")
    if not pct.is_finite() or pct < 0 or pct > 100:
        raise RuleViolation("Users affected must be between 0 and 100 %.", field="users_affected_pct")
    return arr.quantize(Decimal("0.01")), pct.quantize(Decimal("0.01"))


def check_severity_choice(*, chosen: str | None, floor: str | None, reason: str, actor) -> tuple[str, str]:
    """Decide the severity from a person's choice and the trigger floor.
    Raising above the floor needs a reason; going below it needs a Manager."""
    if not chosen:
        return floor or DEFAULT_SEVERITY, SeveritySource.TRIGGER
    if chosen not in SEVERITY_ORDER:
        raise RuleViolation(f"Unknown severity {chosen!r}; use S1–S4.", field="severity")
    if below_floor(chosen, floor):
        if not may_set_below_floor(actor):
            raise NotAllowed(
                f"The triggers say {floor}; only a Manager may set a lower severity than that.",
                field="severity",
                code="downgrade_needs_manager",
            )
        if not reason.strip():
            raise RuleViolation("Say why the severity is below what the triggers give.", field="severity_reason")
        return chosen, SeveritySource.MANUAL
    default = floor or DEFAULT_SEVERITY
    if chosen == default:
        return chosen, SeveritySource.TRIGGER
    if not reason.strip():
        if severity_rank(chosen) < severity_rank(default):
            raise RuleViolation("Raising the severity needs a reason.", field="severity_reason")
        raise RuleViolation(f"Say why the severity is lower than the default {default}.", field="severity_reason")
    return chosen, SeveritySource.MANUAL


def incident_for_signal(*, actor, channel: Channel, external_id: str) -> Incident | None:
    """The case an integration already opened for its ``external_id`` on ``channel``:
    the dedup key belongs to the integration that sent it."""
    return Incident.objects.filter(created_by=actor, channel=channel, external_id=external_id).first()


def _intake_checks(
    *,
    actor,
    title: str,
    customer,
    channel,
    description: str,
    severity_reason: str,
    people_choices: dict,
    is_drill: bool,
) -> None:
    """The refusals that need nothing computed: every missing field named at once, then
    what an integration or a non-manager may not choose."""
    missing: list[ServiceError] = []
    if not title:
        missing.append(RuleViolation("A case needs a title.", field="title"))
    for field, value in (("description", description), ("severity_reason", severity_reason)):
        if message := long_text_error(value):
            missing.append(RuleViolation(message, field=field, code="max_length"))
    if customer is None:
        missing.append(RuleViolation("Choose the customer.", field="customer"))
    if channel is None:
        missing.append(RuleViolation("Choose the channel the case came in on.", field="channel"))
    raise_all(missing)
    if is_integration(actor):
        # An integration reports facts; people decide severity, owners and team.
        for field, value in people_choices.items():
            if value:
                raise RuleViolation(
                    f"An integration may not set {field.replace('_', ' ')}: people decide it on the case.",
                    field=field,
                    code="not_for_integrations",
                )
    if is_drill and not may_start_drill(actor):
        raise NotAllowed(
            "Only a Duty Manager or a Manager may open a drill (a drill's pages are suppressed).",
            field="is_drill",
            code="drill_not_allowed",
        )


def _reported_at(reported_at: datetime | None, *, now: datetime) -> datetime:
    reported_at = reported_at or now
    if reported_at.tzinfo is None:
        raise RuleViolation("Give the time with its time zone.", field="reported_at")
    if reported_at > now + FUTURE_TOLERANCE:
        raise RuleViolation("The reported time cannot be in the future.", field="reported_at")
    return reported_at


def _intake_events(
    incident: Incident, *, result, source: str, severity_reason: str, clock_start, paged, actor, now: datetime
) -> list[CaseEvent]:
    """The new case's first timeline entries, in order: created, clock started, paged."""
    trigger = source == SeveritySource.TRIGGER
    events = [
        event_build(
            incident=incident,
            kind=EventKind.CREATED,
            actor=actor,
            at=now,
            new={"severity": incident.severity, "source": source, "triggers": result.explanation},
            detail=f"{incident.severity} ({'trigger' if trigger else 'manual'}): "
            f"{result.explanation if trigger else severity_reason}",
        )
    ]
    if clock_start:
        events.append(
            event_build(
                incident=incident,
                kind=EventKind.CLOCK_STARTED,
                actor=actor,
                at=now,
                new={
                    "started_at": clock_start,
                    "ack_due_at": incident.ack_due_at,
                    "resolve_due_at": incident.resolve_due_at,
                },
                detail=f"Received on agreed channel {incident.channel.name}",
            )
        )
    if paged is not None:
        events.append(paged)
    return events


def incident_create(
    *,
    actor,
    title: str,
    customer: Customer,
    channel: Channel,
    now: datetime,
    description: str = "",
    reported_at: datetime | None = None,
    arr_at_risk=0,
    users_affected_pct=0,
    data_risk: bool = False,
    legal_risk: bool = False,
    security_risk: bool = False,
    severity: str | None = None,
    severity_reason: str = "",
    category: str = "",
    team: Team | None = None,
    commander=None,
    stage_dri=None,
    bridge_url: str = "",
    external_id: str = "",
    is_drill: bool = False,
) -> Incident:
    """Open a case: severity from the trigger rules (or a person's justified choice),
    policy targets snapshotted, clocks started if the channel is agreed, SOP checklists
    made, the on-duty people paged, events recorded. One transaction: on any error
    nothing is written.

    Cost: the policy tables come from the per-process cache (one query to check it is
    current), and each table written gets one INSERT carrying its history rows too — about
    ten statements for a paged case with checklists."""
    title, category, external_id = one_line(title), one_line(category), one_line(external_id)
    people_choices = {
        "severity": severity, "team": team, "commander": commander, "stage_dri": stage_dri, "is_drill": is_drill,
    }  # fmt: skip
    _intake_checks(
        actor=actor, title=title, customer=customer, channel=channel, description=description,
        severity_reason=severity_reason, people_choices=people_choices, is_drill=is_drill,
    )  # fmt: skip
    arr, pct = clean_impact(arr_at_risk=arr_at_risk, users_affected_pct=users_affected_pct)
    reported_at = _reported_at(reported_at, now=now)
    tables = policy_tables()  # one query while the policy tables are unchanged
    facts = {"data_risk": data_risk, "legal_risk": legal_risk, "security_risk": security_risk}
    result = triggers_evaluate(arr_at_risk=arr, users_affected_pct=pct, **facts, rules=tables.rules)
    chosen, source = check_severity_choice(
        chosen=severity, floor=result.severity, reason=severity_reason or "", actor=actor
    )
    for field, user in (("commander", commander), ("stage_dri", stage_dri)):
        if user is not None and not may_own_case(user):
            raise RuleViolation(not_a_case_worker(user.pk), field=field, code="does_not_exist")
    policy = policy_for(chosen, tables=tables)
    # A case raised elsewhere starts its clocks when it is logged on an agreed channel:
    # reported_at if it came in on one, otherwise not yet.
    clock_start = reported_at if channel.agreed else None

    try:
        with transaction.atomic():
            incident = Incident(
                title=title[:200],
                description=description or "",
                customer=customer,
                channel=channel,
                team=team,
                category=category or "",
                external_id=external_id or "",
                reported_at=reported_at,
                created_by=actor,
                arr_at_risk=arr,
                users_affected_pct=pct,
                **{name: bool(value) for name, value in facts.items()},
                severity_source=source,
                severity_reason=severity_reason or "",
                trigger_severity=result.severity or "",
                trigger_explanation=result.explanation[:300],
                status=Status.NEW,
                commander=commander,
                stage_dri=stage_dri,
                bridge_url=bridge_url or "",
                is_drill=bool(is_drill),
                clock_started_at=clock_start,
                cycle_started_at=clock_start,
                last_progress_at=now,
                **policy_snapshot(policy),
            )
            incident_recompute_clocks(incident, now=now, pauses=[])
            audited_insert([incident], actor=actor)
            if clock_start:
                cycle_open(incident, actor=actor, started_at=clock_start)
            checklists_instantiate(incident=incident, actor=actor, new_case=True, tables=tables)
            pages, paged = intake_page_build(incident=incident, now=now, actor=actor)
            pages_save(pages, actor=actor)
            events = _intake_events(
                incident, result=result, source=source, severity_reason=severity_reason,
                clock_start=clock_start, paged=paged, actor=actor, now=now,
            )  # fmt: skip
            events_save(events, actor=actor)
    except IntegrityError:
        # The one unique key a valid case can collide on: an integration re-sending (or
        # racing on) the same external id on the same channel. Checked after the rollback
        # (no savepoint around the insert: the transaction is already gone, or it was
        # the caller's savepoint and is rolled back to it).
        if external_id and incident_for_signal(actor=actor, channel=channel, external_id=external_id) is not None:
            raise RuleViolation(
                f"A case with external id {external_id!r} already exists on {channel.name}.",
                field="external_id",
                code="duplicate",
            ) from None
        raise
    return incident
