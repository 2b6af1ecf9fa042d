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

What fires is decided by ``escalations.sla.sweep.sweep_decide``, a pure function; this
module plans and records it. The rows go in through ``escalations.fastpath``; wake-ups
are in ``sweep_wakeup`` and health in ``sweep_health``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from simple_history.utils import bulk_update_with_history

from escalations import fastpath
from escalations.choices import (
    OPEN_STATUSES,
    ClockKind,
    HandoffStatus,
    NotificationStatus,
)
from escalations.errors import ServiceError
from escalations.models import (
    Breach,
    CaseEvent,
    Escalation,
    HandoffPacket,
    Incident,
    Notification,
    SlaWarning,
    SweepHeartbeat,
    Team,
)
from escalations.selectors.clocks import pauses_by_incident
from escalations.services.clocks import CLOCK_FIELDS, incident_recompute_clocks
from escalations.services.common import audited_create, system_user
from escalations.services.engine.plan import Known, Plan, plan_climb, plan_handoff_breach, plan_incident
from escalations.services.engine.roster import (
    Roster,
    roster_load,
)
from escalations.services.notifications import notification_ids_enqueue_on_commit
from escalations.services.severity import incident_raise_by_trigger, no_progress_candidates

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


# --- Writing ------------------------------------------------------------------------------


def _write(plans: list[Plan], *, actor) -> None:
    """Write every row of ``plans`` and the cases' markers and clocks, each with its
    history row, in the caller's transaction."""
    rows = {  # parents before children: escalations point at breaches, notifications at escalations
        Breach: [r for p in plans for r in p.breaches],
        SlaWarning: [r for p in plans for r in p.warnings],
        Escalation: [r for p in plans for r in p.escalations],
        Notification: [r for p in plans for r in p.notifications],
        CaseEvent: [r for p in plans for r in p.events],
    }
    fastpath.insert_rows_with_history(rows, actor=actor)
    handoffs = [h for p in plans for h in p.handoffs]
    if handoffs:
        bulk_update_with_history(handoffs, HandoffPacket, ["accept_breached_at"], batch_size=1000, default_user=actor)
    incidents = [p.incident for p in plans]
    if incidents:
        fastpath.update_with_history(incidents, [*SWEEP_FIELDS, *CLOCK_FIELDS], actor=actor)
    notification_ids_enqueue_on_commit(
        [n["id"] for n in rows[Notification] if n["status"] == NotificationStatus.PENDING]
    )


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
    # The cases this sweep raised a rung: no second rung for them in the same sweep.
    climbed: set[int] = field(default_factory=set)

    def add(self, plans: list[Plan]) -> None:
        for plan in plans:
            self.breaches += len(plan.breaches)
            self.warnings += len(plan.warnings)
            self.escalations += len(plan.escalations)
            self.notifications += len(plan.notifications)
            self.handoff_breaches += sum(1 for b in plan.breaches if b["kind"] == ClockKind.HANDOFF)
            if plan.breaches and len(self.breached_incident_ids) < 100:
                self.breached_incident_ids.append(plan.incident.pk)
            if plan.escalations:
                self.climbed.add(plan.incident.pk)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("breached_incident_ids", "climbed")}


def _commit_plans(plans: list[Plan], *, now, roster, actor, result: SweepResult) -> None:
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
    # The failed write rolled back to the cases as they were locked (this transaction still
    # holds them): read them again rather than keep a copy of every case for this rare path.
    fresh = {i.pk: i for i in _case_rows().filter(pk__in=[p.incident.pk for p in plans])}
    pauses = pauses_by_incident(fresh)
    for plan in plans:
        incident = fresh[plan.incident.pk]
        try:
            with transaction.atomic():
                replanned = plan_incident(
                    incident, now=now, roster=roster, actor=actor, known=_known_for(incident.pk),
                    pauses=pauses[incident.pk], handoffs=plan.handoffs,
                )  # fmt: skip
                _write([replanned], actor=actor)
            result.add([replanned])
        except (IntegrityError, DatabaseError, RuntimeError):
            logger.exception("Sweep could not record case %s; retrying it later", incident.pk)
            _push_forward(incident, now=now, actor=actor)
            result.errors += 1


def _push_forward(incident: Incident, *, now: datetime, actor) -> None:
    """Retry a case the sweep could not process later. Only ``next_check_at`` is written
    (and the history row is taken from the database), so whatever a failed plan changed
    on the instance is not recorded."""
    incident.next_check_at = now + BAD_ROW_RETRY
    with transaction.atomic():
        fastpath.update_with_history([incident], ["next_check_at"], actor=actor)


def _case_rows():
    # The case's team comes from the roster (roster_add_teams), not a join per row.
    return Incident.objects.select_related("policy", "commander", "stage_dri")


def _lock_due_incidents(now: datetime, limit: int) -> list[Incident]:
    # incident_sweep_idx: a range scan over rows with something pending, oldest first.
    # SKIP LOCKED: rows another sweep (or a person's change) holds are left to it.
    return list(
        _case_rows()
        .select_for_update(skip_locked=True, of=("self",))
        .filter(next_check_at__lte=now)
        .order_by("next_check_at")[:limit]
    )


def _due_handoffs(now: datetime):
    # handoff_accept_due_idx. SKIP LOCKED: a packet a person is answering right now is
    # left to a later sweep.
    return (
        HandoffPacket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("to_user", "to_team")
        .filter(status=HandoffStatus.OFFERED, accept_due_at__lte=now, accept_breached_at__isnull=True)
    )


def _sweep_incident_batch(*, now: datetime, limit: int, roster: LazyRoster, actor, result: SweepResult) -> int:
    with transaction.atomic():
        rows = _lock_due_incidents(now, limit)
        if not rows:
            return 0
        roster = roster.get()
        roster_add_teams(roster, {r.team_id for r in rows if r.team_id})
        pauses = pauses_by_incident(r.pk for r in rows)
        # The same cases' handoffs past their time box breach with them: all of a case's
        # breaches in one sweep climb one rung together.
        handoffs: dict[int, list[HandoffPacket]] = defaultdict(list)
        for packet in _due_handoffs(now).filter(incident_id__in=[r.pk for r in rows]).order_by("accept_due_at"):
            handoffs[packet.incident_id].append(packet)
        plans: list[Plan] = []
        for incident in rows:
            try:
                plan = plan_incident(
                    incident, now=now, roster=roster, actor=actor, pauses=pauses[incident.pk],
                    handoffs=handoffs.get(incident.pk, ()),
                )  # fmt: skip
                plans.append(plan)
            except Exception:  # noqa: BLE001 — one bad row must not stall the sweep
                logger.exception("Sweep could not process case %s; retrying it later", incident.pk)
                _push_forward(incident, now=now, actor=actor)
                result.errors += 1
        _commit_plans(plans, now=now, roster=roster, actor=actor, result=result)
        result.examined += len(rows)
        return len(rows)


def roster_add_teams(roster: Roster, team_ids: set[int]) -> None:
    """Load the case teams a batch needs (webhook rooms) that the roster lacks: one query."""

    missing = team_ids - set(roster.teams)
    if missing:
        roster.teams.update({t.pk: t for t in Team.objects.filter(pk__in=missing)})


def _sweep_handoff_batch(*, now: datetime, limit: int, roster: LazyRoster, actor, result: SweepResult) -> int:
    """Offered packets past their acceptance time box (handoff_accept_due_idx) whose case
    had nothing else due: one handoff breach per packet, and — like any breaches — one
    rung per case for all of them."""
    with transaction.atomic():
        packets = list(_due_handoffs(now).order_by("accept_due_at")[:limit])
        if not packets:
            return 0
        roster = roster.get()
        # Lock their cases without waiting: a case a person is changing right now (maybe
        # accepting this very handoff) is left for the next sweep. So is a case this sweep
        # already raised a rung (its packet was locked then): one rung per sweep.
        incidents = {
            i.pk: i
            for i in _case_rows()
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in={p.incident_id for p in packets} - result.climbed)
        }
        pauses = pauses_by_incident(incidents)
        roster_add_teams(roster, {i.team_id for i in incidents.values() if i.team_id})
        plans: dict[int, Plan] = {}
        breaches: dict[int, list] = defaultdict(list)
        taken = 0
        for packet in packets:
            incident = incidents.get(packet.incident_id)
            if incident is None:
                continue
            taken += 1
            plan = plans.setdefault(incident.pk, Plan(incident=incident))
            breaches[incident.pk].append(plan_handoff_breach(plan, packet, now=now, actor=actor, known=Known()))
        for plan in plans.values():
            if plan.incident.status in OPEN_STATUSES:
                plan_climb(
                    plan, roster=roster, actor=actor, now=now, known=Known(), breaches=breaches[plan.incident.pk]
                )
            incident_recompute_clocks(plan.incident, now=now, pauses=pauses[plan.incident.pk])
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
        # Packets left for the next sweep because their case climbed in this one are not
        # counted: a batch of only those would otherwise be taken again and again.
        return len(packets) - sum(1 for p in packets if p.incident_id in result.climbed)


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


__all__ = ["SweepResult", "plan_incident", "sweep_run"]
