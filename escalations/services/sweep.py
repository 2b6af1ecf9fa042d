"""The breach sweep: find what became due, record it once, escalate, notify.

Shape (Healthchecks' ``sendalerts``, OnCall's escalation auditor):

- The work is found by an index range scan on the denormalised ``next_check_at``
  (incident_sweep_idx): ``WHERE next_check_at <= now ORDER BY next_check_at LIMIT batch``.
  Cost follows the cases newly due, not the cases open; batches keep memory flat.
- Work is claimed, not assumed: ``FOR UPDATE SKIP LOCKED`` lets any number of sweeps
  (two beats, a cron fallback, a redelivered task) run at once, each taking different
  rows. The unique constraints breach_once_per_cycle, warning_once_per_cycle and
  escalation_level_once are the final guard; a conflict is handled by re-planning the
  case against what is already recorded.
- Each batch is one transaction: a worker killed mid-sweep loses at most the batch it
  held, which the database rolls back and the next sweep redoes.
- A row that cannot be processed is logged and pushed forward instead of stalling the
  sweep; every sweep writes a heartbeat row so a dead beat is noticed (``sweep_status``).

What fires is decided by ``sweep_decide`` — a pure function of the row's fields and
``now`` — so it can be tested without a database and compared with the clock maths.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from escalations.choices import OPEN_STATUSES, ChainTarget, ClockKind, EventKind, HandoffStatus, NotificationChannel
from escalations.models import (
    Breach,
    CaseEvent,
    ClockPause,
    Escalation,
    HandoffPacket,
    Incident,
    Notification,
    SlaWarning,
    SweepHeartbeat,
)
from escalations.services.clocks import CLOCK_FIELDS, incident_recompute_clocks
from escalations.services.common import _jsonable, audited_create, system_user
from escalations.services.errors import ServiceError
from escalations.services.escalation import Roster, duty_managers, recipients_for, roster_load, step_recipients
from escalations.services.notifications import notification_build, notifications_enqueue_on_commit

logger = logging.getLogger(__name__)

# A row the sweep could not process is retried this much later instead of blocking
# every following sweep at the head of the index.
BAD_ROW_RETRY = timedelta(seconds=60)

# Incident fields the sweep writes (on top of services.clocks.CLOCK_FIELDS). It does
# not bump ``version``: these are machine bookkeeping no person edits, and a person's
# acknowledge must not be refused as stale because the chain climbed meanwhile.
SWEEP_FIELDS = [
    "ack_warned_at",
    "ack_breached_at",
    "resolve_warned_at",
    "resolve_breached_at",
    "update_warned_at",
    "update_breached_at",
    "escalation_level",
    "next_escalation_at",
]

WARNING_CHANNELS = (NotificationChannel.IN_APP, NotificationChannel.EMAIL)


# --- The pure decision ------------------------------------------------------------------


class SweepRow(Protocol):
    """The fields ``sweep_decide`` reads (an Incident, or any object with them)."""

    status: str
    acknowledged_at: datetime | None
    paused_since: datetime | None
    resolve_cycle: int
    update_seq: int
    ack_warn_at: datetime | None
    ack_due_at: datetime | None
    ack_warned_at: datetime | None
    ack_breached_at: datetime | None
    resolve_warn_at: datetime | None
    resolve_due_at: datetime | None
    resolve_warned_at: datetime | None
    resolve_breached_at: datetime | None
    update_warn_at: datetime | None
    next_update_due_at: datetime | None
    update_warned_at: datetime | None
    update_breached_at: datetime | None
    next_escalation_at: datetime | None


@dataclass(frozen=True)
class Fired:
    """A warning or breach of one clock in one cycle."""

    kind: str
    cycle: int
    due_at: datetime
    warn_at: datetime | None


@dataclass(frozen=True)
class SweepDecision:
    warnings: tuple[Fired, ...] = ()
    breaches: tuple[Fired, ...] = ()
    chain_step_due: bool = False

    @property
    def empty(self) -> bool:
        return not (self.warnings or self.breaches or self.chain_step_due)


def update_cycle(row: SweepRow) -> int:
    """The update window a breach belongs to: the number of the update that is late."""
    return row.update_seq + 1


def sweep_decide(row: SweepRow, now: datetime) -> SweepDecision:
    """What fires for ``row`` at ``now``.

    Invariants: a clock fires its breach once its stored due time has passed and it has
    not breached in this cycle; acknowledged cases never ack-breach; closed or resolved
    cases fire nothing; a paused case never climbs the chain and — because its stored
    due times are frozen (None) while paused — only breaches a deadline that passed
    before the pause began. A warning whose time passed is recorded even when the
    breach fires in the same pass (it happened; the sweep merely saw both at once)."""
    if row.status not in OPEN_STATUSES:
        return SweepDecision()
    clocks = (
        (
            ClockKind.ACK,
            1,
            row.acknowledged_at is None,
            row.ack_warn_at,
            row.ack_due_at,
            row.ack_warned_at,
            row.ack_breached_at,
        ),
        (
            ClockKind.RESOLVE,
            row.resolve_cycle,
            True,
            row.resolve_warn_at,
            row.resolve_due_at,
            row.resolve_warned_at,
            row.resolve_breached_at,
        ),
        (
            ClockKind.UPDATE,
            update_cycle(row),
            True,
            row.update_warn_at,
            row.next_update_due_at,
            row.update_warned_at,
            row.update_breached_at,
        ),
    )
    warnings: list[Fired] = []
    breaches: list[Fired] = []
    for kind, cycle, live, warn, due, warned, breached in clocks:
        if not live or breached is not None or due is None:
            continue
        if warned is None and warn is not None and warn <= now:
            warnings.append(Fired(kind, cycle, due, warn))
        if due <= now:
            breaches.append(Fired(kind, cycle, due, warn))
    chain_due = row.paused_since is None and row.next_escalation_at is not None and row.next_escalation_at <= now
    return SweepDecision(tuple(warnings), tuple(breaches), chain_due)


# --- Planning one case --------------------------------------------------------------------


@dataclass
class Known:
    """What is already recorded for a case (used after a unique-constraint conflict)."""

    breaches: set[tuple[str, int]] = field(default_factory=set)
    warnings: set[tuple[str, int]] = field(default_factory=set)
    levels: set[int] = field(default_factory=set)


@dataclass
class Plan:
    """The rows one case's sweep writes. Nothing is saved until ``_write``."""

    incident: Incident
    warnings: list[SlaWarning] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    handoffs: list[HandoffPacket] = field(default_factory=list)


def _event(plan: Plan, *, kind: str, actor, now: datetime, new: dict, detail: str) -> None:
    plan.events.append(
        CaseEvent(incident=plan.incident, kind=kind, at=now, actor=actor, new=_jsonable(new), detail=detail[:500])
    )


def _clock_label(kind: str) -> str:
    return ClockKind(kind).label.lower()


def _escalate(
    plan: Plan, *, roster: Roster, actor, now: datetime, reason: str, breach: Breach | None, known: Known
) -> None:
    """Raise the case one rung and notify that rung. Past the top of the chain the level
    stays, and a breach is told to the top rung again."""
    incident = plan.incident
    policy_id = incident.policy_id
    level = max(incident.escalation_level, max(known.levels, default=0)) + 1
    step = roster.step(policy_id, level)
    if step is not None and step.target == ChainTarget.EXECUTIVE and not incident.policy.allows_executive_escalation:
        step = None  # executives only where the chain *and* the policy say so
    if step is None:
        incident.next_escalation_at = None
        top = roster.step(policy_id, roster.top_level(policy_id))
        if breach is None or top is None:
            return
        recipients, _ = step_recipients(top, incident, roster)
        key = f"breach:{incident.pk}:{breach.kind}:{breach.cycle}"
        text = f"[{incident.severity}] {incident.reference} {incident.title}: {reason} (top of the escalation chain)"
        for recipient in recipients:
            plan.notifications.append(
                notification_build(
                    incident=incident, recipient=recipient, kind="breach", key=key, now=now,
                    subject=f"Breach: {incident.severity} {incident.reference} {incident.title}", text=text,
                )
            )  # fmt: skip
        _event(
            plan, kind=EventKind.NOTE, actor=actor, now=now, new={"notified": [r.as_dict() for r in recipients]},
            detail=f"Top of the escalation chain already reached; {reason}",
        )  # fmt: skip
        return
    recipients, is_executive = step_recipients(step, incident, roster)
    escalation = Escalation(
        incident=incident,
        level=level,
        reason=reason[:300],
        breach=breach,
        step=step,
        notified=[r.as_dict() for r in recipients],
        created_at=now,
        actor=actor,
        is_executive=is_executive,
    )
    plan.escalations.append(escalation)
    old_level = incident.escalation_level
    incident.escalation_level = level
    following = roster.step(policy_id, level + 1)
    incident.next_escalation_at = now + following.wait if following is not None else None
    text = (
        f"[{incident.severity}] {incident.reference} {incident.title}: {reason}. "
        f"Escalated to level {level} ({step.get_target_display()})."
    )
    for recipient in recipients:
        plan.notifications.append(
            notification_build(
                incident=incident,
                recipient=recipient,
                kind="escalation",
                key=f"esc:{incident.pk}:L{level}",
                subject=f"Escalation L{level}: {incident.severity} {incident.reference} {incident.title}",
                text=text,
                now=now,
                escalation=escalation,
            )
        )
    names = ", ".join(sorted({r.label for r in recipients})) or "nobody on duty"
    _event(
        plan,
        kind=EventKind.ESCALATED,
        actor=actor,
        now=now,
        new={"level": level, "target": step.target, "notified": [r.as_dict() for r in recipients],
             "executive": is_executive},
        detail=f"Level {old_level} → {level} ({step.get_target_display()}): {reason}. Notified {names}",
    )  # fmt: skip


def _warn_recipients(incident: Incident, roster: Roster):
    people = [incident.stage_dri] if incident.stage_dri_id is not None else duty_managers(incident, roster)
    return recipients_for(people, WARNING_CHANNELS, incident=incident, roster=roster)


def plan_incident(incident: Incident, *, now: datetime, roster: Roster, actor, known: Known | None = None) -> Plan:
    """Decide what fired for a locked case and build (unsaved) the rows that record it;
    set the markers, raise the level and recompute ``next_check_at`` on the instance."""
    known = known or Known()
    plan = Plan(incident=incident)
    decision = sweep_decide(incident, now)
    breached_kinds = {b.kind for b in decision.breaches}
    for fired in decision.warnings:
        setattr(incident, f"{fired.kind}_warned_at", now)
        if (fired.kind, fired.cycle) in known.warnings:
            continue
        plan.warnings.append(
            SlaWarning(
                incident=incident, kind=fired.kind, cycle=fired.cycle, warn_at=fired.warn_at, due_at=fired.due_at,
                detected_at=now,
            )
        )  # fmt: skip
        _event(
            plan, kind=EventKind.WARNING, actor=actor, now=now,
            new={"clock": fired.kind, "cycle": fired.cycle, "warn_at": fired.warn_at, "due_at": fired.due_at},
            detail=f"{incident.warning_pct} % of the {_clock_label(fired.kind)} target used; due {fired.due_at:%H:%M} UTC",
        )  # fmt: skip
        if fired.kind in breached_kinds:
            continue  # the breach notice below supersedes a warning seen in the same pass
        for recipient in _warn_recipients(incident, roster):
            plan.notifications.append(
                notification_build(
                    incident=incident, recipient=recipient, kind="warning", now=now,
                    key=f"warn:{incident.pk}:{fired.kind}:{fired.cycle}",
                    subject=f"Warning: {incident.reference} {_clock_label(fired.kind)} due {fired.due_at:%H:%M} UTC",
                    text=f"[{incident.severity}] {incident.reference} {incident.title}: {_clock_label(fired.kind)} "
                    f"target {incident.warning_pct} % used, due {fired.due_at:%Y-%m-%d %H:%M} UTC.",
                )
            )  # fmt: skip
    escalated = False
    for fired in decision.breaches:
        setattr(incident, f"{fired.kind}_breached_at", now)
        if (fired.kind, fired.cycle) in known.breaches:
            continue  # recorded (and escalated) by an earlier sweep
        breach = Breach(
            incident=incident, kind=fired.kind, cycle=fired.cycle, severity=incident.severity, due_at=fired.due_at,
            detected_at=now,
        )  # fmt: skip
        plan.breaches.append(breach)
        late = int((now - fired.due_at).total_seconds())
        _event(
            plan, kind=EventKind.BREACHED, actor=actor, now=now,
            new={"clock": fired.kind, "cycle": fired.cycle, "due_at": fired.due_at, "detected_late_seconds": late},
            detail=f"{ClockKind(fired.kind).label} target missed (due {fired.due_at:%Y-%m-%d %H:%M} UTC)",
        )  # fmt: skip
        reason = f"{ClockKind(fired.kind).label} target breached (due {fired.due_at:%H:%M} UTC)"
        _escalate(plan, roster=roster, actor=actor, now=now, reason=reason, breach=breach, known=known)
        known.levels.add(incident.escalation_level)
        escalated = True
    if decision.chain_step_due and not escalated:
        _escalate(
            plan, roster=roster, actor=actor, now=now, breach=None, known=known,
            reason=f"Still unresolved at escalation level {incident.escalation_level}",
        )  # fmt: skip
    # A chain rung with no wait fires in the same pass as the one before it.
    for _ in range(roster.top_level(incident.policy_id)):
        if incident.next_escalation_at is None or incident.next_escalation_at > now or incident.paused_since:
            break
        before = incident.escalation_level
        _escalate(
            plan, roster=roster, actor=actor, now=now, breach=None, known=known,
            reason=f"Next rung after level {before} has no wait",
        )  # fmt: skip
        if incident.escalation_level == before:
            break
    incident_recompute_clocks(incident, now=now)
    if incident.next_check_at is not None and incident.next_check_at <= now:
        # Should not happen (every fired item set its marker); never let one row spin.
        raise RuntimeError(f"next_check_at {incident.next_check_at.isoformat()} not after now after processing")
    return plan


# --- Writing ------------------------------------------------------------------------------


def _write(plans: list[Plan], *, actor) -> None:
    """Write every row of ``plans`` with bulk inserts (history included) in the caller's
    transaction. Order matters: escalations point at breaches, notifications at
    escalations; bulk_create sets primary keys (RETURNING) so the links resolve."""
    batch = 1000
    rows = {
        Breach: [r for p in plans for r in p.breaches],
        SlaWarning: [r for p in plans for r in p.warnings],
        Escalation: [r for p in plans for r in p.escalations],
        Notification: [r for p in plans for r in p.notifications],
        CaseEvent: [r for p in plans for r in p.events],
    }
    for model, objs in rows.items():
        if not objs:
            continue
        if connection.vendor == "postgresql":
            pg_copy_create_with_history(model, objs, actor=actor)
        else:
            bulk_create_with_history(objs, model, batch_size=batch, default_user=actor)
    handoffs = [h for p in plans for h in p.handoffs]
    if handoffs:
        bulk_update_with_history(handoffs, HandoffPacket, ["accept_breached_at"], batch_size=batch, default_user=actor)
    incidents = [p.incident for p in plans]
    if incidents:
        incidents_bulk_update_with_history(incidents, [*SWEEP_FIELDS, *CLOCK_FIELDS], actor=actor)
    notifications_enqueue_on_commit(rows[Notification])


def incidents_bulk_update_with_history(incidents: list[Incident], fields: list[str], *, actor) -> None:
    """bulk_update_with_history, fast on PostgreSQL.

    Django's bulk_update writes one ``CASE WHEN id = … THEN …`` per field and row; for a
    batch of 500 cases × 17 fields that is most of a sweep's time. On PostgreSQL the
    rows go instead as one JSON document joined with ``jsonb_to_recordset`` — a single
    UPDATE. History rows are written exactly as bulk_update_with_history writes them
    (simple-history's bulk_history_create, history_type "~", the acting user)."""
    if connection.vendor != "postgresql":
        bulk_update_with_history(incidents, Incident, fields, batch_size=1000, default_user=actor)
        return
    model_fields = [Incident._meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    columns = ", ".join(f"{qn(f.column)} {f.cast_db_type(connection)}" for f in model_fields)
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in model_fields)
    table = qn(Incident._meta.db_table)
    for start in range(0, len(incidents), 1000):
        chunk = incidents[start : start + 1000]
        document = json.dumps(
            [{"id": i.pk, **{f.column: _json_value(getattr(i, f.attname)) for f in model_fields}} for i in chunk]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} "  # noqa: S608 — identifiers from the model, values bound
                f"FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {columns}) WHERE t.id = v.id",
                [document],
            )
    _pg_copy_history(Incident, incidents, actor=actor, history_type="~")


# --- PostgreSQL COPY fast path -------------------------------------------------------------
#
# A batch of 1,000 newly due cases writes ~13,000 rows (breach, escalation, notifications,
# events, and a history row for each). Django's bulk_create binds every value through
# the client-side quoting of psycopg and costs seconds for that; COPY takes tens of
# milliseconds. Primary keys are drawn from the table's sequence first, so the rows can
# point at each other (escalation → breach, notification → escalation) and the caller
# gets the ids as bulk_create would give them.


def pg_copy_create_with_history(model, objs: list, *, actor) -> None:
    """bulk_create_with_history for PostgreSQL, by COPY: same rows, same history rows
    (history_type "+", history_user = ``actor``, history_date = the wall clock)."""
    meta = model._meta
    fields = list(meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")  # FK ids of just-created parents
            obj._state.adding = False
            obj._state.db = connection.alias
        prep = _preparers(fields)
        _pg_copy(
            cursor,
            meta.db_table,
            fields,
            ([p(f.pre_save(o, True)) for f, p in zip(fields, prep, strict=True)] for o in objs),
        )
    _pg_copy_history(model, objs, actor=actor, history_type="+")


def _pg_copy_history(model, objs: list, *, actor, history_type: str) -> None:
    """The historical rows simple-history's bulk_history_create would write."""
    history_model = model.history.model
    fields = [f for f in history_model._meta.concrete_fields if not f.primary_key]
    when = timezone.now()
    special = {"history_date": when, "history_change_reason": None, "history_type": history_type,
               "history_user_id": actor.pk}  # fmt: skip

    prep = _preparers(fields)
    pairs = list(zip(fields, prep, strict=True))

    def row(obj) -> list:
        return [p(special[f.attname] if f.attname in special else getattr(obj, f.attname)) for f, p in pairs]

    with connection.cursor() as cursor:
        _pg_copy(cursor, history_model._meta.db_table, fields, (row(o) for o in objs))


def _identity(value):
    return value


def _preparers(fields: list) -> list:
    """Per column, how a Python value becomes a COPY value. psycopg dumps ints, strings,
    booleans, decimals and aware datetimes itself; only JSON needs Django's preparation
    (and going through it for every value costs more than the COPY)."""
    conn = connections[DEFAULT_DB_ALIAS]  # the real connection, not the per-access proxy
    return [
        partial(f.get_db_prep_save, connection=conn) if f.get_internal_type() == "JSONField" else _identity
        for f in fields
    ]


def _pg_copy(cursor, table: str, fields: list, rows) -> None:
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    # Raw psycopg COPY bypasses Django's error translation; wrap it so a unique violation
    # is django.db.IntegrityError like any other write (the sweep's conflict handling).
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {qn(table)} ({columns}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)


def _json_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _known_for(incident_id: int) -> Known:
    return Known(
        breaches=set(Breach.objects.filter(incident_id=incident_id).values_list("kind", "cycle")),
        warnings=set(SlaWarning.objects.filter(incident_id=incident_id).values_list("kind", "cycle")),
        levels=set(Escalation.objects.filter(incident_id=incident_id).values_list("level", flat=True)),
    )


@dataclass
class SweepResult:
    examined: int = 0
    breaches: int = 0
    warnings: int = 0
    escalations: int = 0
    notifications: int = 0
    handoff_breaches: int = 0
    severity_raises: int = 0
    errors: int = 0
    batches: int = 0
    duration_ms: int = 0
    breached_incident_ids: list[int] = field(default_factory=list)

    def add(self, plans: list[Plan]) -> None:
        for plan in plans:
            self.breaches += len(plan.breaches)
            self.warnings += len(plan.warnings)
            self.escalations += len(plan.escalations)
            self.notifications += len(plan.notifications)
            self.handoff_breaches += sum(1 for b in plan.breaches if b.kind == ClockKind.HANDOFF)
            if plan.breaches and len(self.breached_incident_ids) < 100:
                self.breached_incident_ids.append(plan.incident.pk)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "breached_incident_ids"}


def _commit_plans(
    plans: list[Plan], snapshots: dict[int, Incident], *, now, roster, actor, result: SweepResult
) -> None:
    """Write a batch; on a unique-constraint conflict (another sweep got there first —
    only possible if a row escaped its lock, e.g. markers reset by hand) fall back to one
    savepoint per case, re-planned against what is already recorded."""
    try:
        with transaction.atomic():
            _write(plans, actor=actor)
        result.add(plans)
        return
    except IntegrityError:
        logger.warning("Sweep batch hit a unique constraint; retrying case by case", exc_info=True)
    for plan in plans:
        snapshot = copy.copy(snapshots[plan.incident.pk])
        try:
            with transaction.atomic():
                replanned = plan_incident(snapshot, now=now, roster=roster, actor=actor, known=_known_for(snapshot.pk))
                replanned.handoffs = plan.handoffs
                _write([replanned], actor=actor)
            result.add([replanned])
        except (IntegrityError, DatabaseError, RuntimeError):
            logger.exception("Sweep could not record case %s; retrying it later", snapshot.pk)
            _push_forward(copy.copy(snapshots[plan.incident.pk]), now=now, actor=actor)
            result.errors += 1


def _push_forward(incident: Incident, *, now: datetime, actor) -> None:
    incident.next_check_at = now + BAD_ROW_RETRY
    with transaction.atomic():
        incidents_bulk_update_with_history([incident], ["next_check_at"], actor=actor)


def _lock_due_incidents(now: datetime, limit: int) -> list[Incident]:
    # incident_sweep_idx: a range scan over rows with something pending, oldest first.
    # SKIP LOCKED: rows another sweep (or a person's change) holds are left to it.
    rows = list(
        Incident.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("policy", "team", "commander", "stage_dri")
        .filter(next_check_at__lte=now)
        .order_by("next_check_at")[:limit]
    )
    prefetch_related_objects(
        rows, Prefetch("pauses", queryset=ClockPause.objects.only("incident_id", "started_at", "ended_at"))
    )
    return rows


def _sweep_incident_batch(*, now: datetime, limit: int, roster: LazyRoster, actor, result: SweepResult) -> int:
    with transaction.atomic():
        rows = _lock_due_incidents(now, limit)
        if not rows:
            return 0
        roster = roster.get()
        roster_add_teams(roster, {r.team_id for r in rows if r.team_id})
        plans: list[Plan] = []
        snapshots: dict[int, Incident] = {}
        for incident in rows:
            snapshots[incident.pk] = copy.copy(incident)
            try:
                plans.append(plan_incident(incident, now=now, roster=roster, actor=actor))
            except Exception:  # noqa: BLE001 — one bad row must not stall the sweep
                logger.exception("Sweep could not process case %s; retrying it later", incident.pk)
                _push_forward(copy.copy(snapshots[incident.pk]), now=now, actor=actor)
                result.errors += 1
        _commit_plans(plans, snapshots, now=now, roster=roster, actor=actor, result=result)
        result.examined += len(rows)
        return len(rows)


def roster_add_teams(roster: Roster, team_ids: set[int]) -> None:
    """Load the case teams a batch needs (webhook rooms) that the roster lacks: one query."""
    from escalations.models import Team

    missing = team_ids - set(roster.teams)
    if missing:
        roster.teams.update({t.pk: t for t in Team.objects.filter(pk__in=missing)})


def _sweep_handoff_batch(*, now: datetime, limit: int, roster: LazyRoster, actor, result: SweepResult) -> int:
    """Offered packets past their acceptance time box (handoff_accept_due_idx): one
    handoff breach per packet, which escalates its case like any breach."""
    with transaction.atomic():
        packets = list(
            HandoffPacket.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=HandoffStatus.OFFERED, accept_due_at__lte=now, accept_breached_at__isnull=True)
            .order_by("accept_due_at")[:limit]
        )
        if not packets:
            return 0
        roster = roster.get()
        # Lock their cases without waiting: a case a person is changing right now (maybe
        # accepting this very handoff) is left for the next sweep.
        incidents = {
            i.pk: i
            for i in Incident.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("policy", "team", "commander", "stage_dri")
            .filter(pk__in={p.incident_id for p in packets})
        }
        prefetch_related_objects(
            list(incidents.values()),
            Prefetch("pauses", queryset=ClockPause.objects.only("incident_id", "started_at", "ended_at")),
        )
        roster_add_teams(roster, {i.team_id for i in incidents.values() if i.team_id})
        plans: dict[int, Plan] = {}
        snapshots: dict[int, Incident] = {}
        taken = 0
        for packet in packets:
            incident = incidents.get(packet.incident_id)
            if incident is None:
                continue
            taken += 1
            snapshots.setdefault(incident.pk, copy.copy(incident))
            plan = plans.setdefault(incident.pk, Plan(incident=incident))
            packet.accept_breached_at = now
            plan.handoffs.append(packet)
            breach = Breach(
                incident=incident, kind=ClockKind.HANDOFF, cycle=packet.pk, handoff=packet, severity=incident.severity,
                due_at=packet.accept_due_at, detected_at=now,
            )  # fmt: skip
            plan.breaches.append(breach)
            receiver = packet.to_user or packet.to_team
            _event(
                plan, kind=EventKind.BREACHED, actor=actor, now=now,
                new={"clock": ClockKind.HANDOFF, "handoff": packet.pk, "due_at": packet.accept_due_at},
                detail=f"Handoff to {receiver} not accepted by {packet.accept_due_at:%H:%M} UTC",
            )  # fmt: skip
            if incident.status in OPEN_STATUSES:
                _escalate(
                    plan, roster=roster, actor=actor, now=now, breach=breach, known=Known(),
                    reason=f"Handoff to {receiver} not accepted in time",
                )  # fmt: skip
        for plan in plans.values():
            incident_recompute_clocks(plan.incident, now=now)
        try:
            with transaction.atomic():
                _write(list(plans.values()), actor=actor)
            result.add(list(plans.values()))
        except IntegrityError:
            # A handoff breach is keyed by the packet, so a conflict means it is already
            # recorded: mark the packets and move on.
            logger.warning("Handoff breach already recorded; marking packets", exc_info=True)
            bulk_update_with_history(
                [h for p in plans.values() for h in p.handoffs],
                HandoffPacket,
                ["accept_breached_at"],
                default_user=actor,
            )
        result.examined += taken
        return len(packets)


def sweep_run(
    *, now: datetime, source: str = "beat", batch_size: int | None = None, max_seconds: float | None = None
) -> SweepResult:
    """One sweep at ``now``: every case with something due, batch by batch, then the
    handoff time boxes; record a heartbeat. Safe to run concurrently with itself."""
    started = time.monotonic()
    limit = batch_size or settings.SWEEP_BATCH_SIZE
    budget = settings.SWEEP_MAX_SECONDS if max_seconds is None else max_seconds
    actor = system_user()
    roster = LazyRoster(at=now)  # loaded by the first batch that has work: an idle sweep stays cheap
    result = SweepResult()
    for batch in (_sweep_incident_batch, _sweep_handoff_batch):
        while True:
            taken = batch(now=now, limit=limit, roster=roster, actor=actor, result=result)
            if taken:
                result.batches += 1
            # A short batch means nothing is left that is not locked by someone else.
            if taken < limit:
                break
            if time.monotonic() - started > budget:
                # Stay inside the task's time limit; the next sweep carries on.
                logger.warning("Sweep stopped after %.1f s with work left; the next sweep continues", budget)
                break
    _raise_idle_cases(now=now, limit=limit, actor=actor, result=result)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():  # the row and its history row: one commit
        _heartbeat(now=now, source=source, result=result, actor=actor)
    if result.breaches or result.errors:
        logger.info("Sweep %s", result.as_dict())
    return result


def _raise_idle_cases(*, now: datetime, limit: int, actor, result: SweepResult) -> None:
    """No-progress trigger rules: raise cases idle past a rule's threshold to its
    severity, one service call each (rare: a raised case no longer matches). The raise
    recomputes the clocks, so the next sweep escalates any breach the new targets cause."""
    from escalations.services.incidents import incident_raise_by_trigger, no_progress_candidates

    for pk, severity, explanation in no_progress_candidates(now=now, limit=limit):
        try:
            incident_raise_by_trigger(incident=pk, severity=severity, explanation=explanation, actor=actor, now=now)
            result.severity_raises += 1
        except (ServiceError, DatabaseError):
            logger.exception("Sweep could not raise idle case %s; retrying next sweep", pk)
            result.errors += 1


def _heartbeat(*, now: datetime, source: str, result: SweepResult, actor) -> None:
    audited_create(
        SweepHeartbeat,
        history_user=actor,
        started_at=now,
        finished_at=max(now, now + timedelta(milliseconds=result.duration_ms)),
        source=source[:30],
        examined=result.examined,
        breaches=result.breaches,
        warnings=result.warnings,
        escalations=result.escalations,
        errors=result.errors,
        duration_ms=result.duration_ms,
    )


class LazyRoster:
    """The roster, loaded on first use by a batch that found work."""

    def __init__(self, *, at: datetime) -> None:
        self.at = at
        self._roster: Roster | None = None

    def get(self) -> Roster:
        if self._roster is None:
            self._roster = roster_load(at=self.at)
        return self._roster


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


__all__ = [
    "Fired",
    "SweepDecision",
    "SweepResult",
    "plan_incident",
    "sweep_decide",
    "sweep_run",
    "sweep_status",
]
