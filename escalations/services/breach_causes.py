"""Breach causes: the shipped list (loaded idempotently, like the rest of the playbook)
and the review that confirms a breach's cause. Confirming is one service whatever the
door (the review queue, the admin's breach form): it locks the breach, refuses a cause
that is not on the list or no longer active, saves with the reviewer in the history, and
puts the confirmation on the case's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from escalations.choices import BreachCause, ClockKind, EventKind
from escalations.display import local_time, person_name
from escalations.errors import NotAllowed, RuleViolation, ServiceError
from escalations.models import Breach, BreachCauseOption
from escalations.security.access import may_review_breach_causes
from escalations.services.common import audited_create, audited_save, event_record

# The shipped list, in the order reviewers see it: (code, label, description).
DEFAULT_CAUSES = [
    (BreachCause.MISSING_SKILL, "Missing skill", "Nobody on the case knew how to move it forward."),
    (BreachCause.WAITING_ON_ENGINEERING, "Waiting on engineering", "The fix was queued behind engineering work."),
    (BreachCause.HANDOFF_GAP, "Handoff gap", "The case was lost between people or shifts; a handoff went unanswered."),
    (BreachCause.WRONG_SEVERITY, "Wrong severity", "The case ran under a lower severity than its facts called for."),
    (BreachCause.TOOLING, "Tooling", "A tool, integration or page failed or slowed the work."),
    (BreachCause.THIRD_PARTY, "Third-party delay", "A vendor or partner the case depended on was late."),
    (BreachCause.CAPACITY, "Team at capacity", "The team had more work than people on shift."),
    (BreachCause.UNASSIGNED, "Nobody owned it", "No one held the case when the promise fell due."),
    (BreachCause.COMPLEXITY, "Technical complexity", "The problem was hard; the target was not enough for it."),
    (BreachCause.OTHER, "Other", "None of the above: say what in the note."),
]


NOTE_MAX = 2000


def breach_causes_load(*, actor) -> int:
    """Create the shipped causes that are missing (by code); what exists stays as the
    Policy Admins edited it. Returns how many were created."""
    existing = set(BreachCauseOption.objects.values_list("code", flat=True))
    created = 0
    for position, (code, label, description) in enumerate(DEFAULT_CAUSES, start=1):
        if code in existing:
            continue
        audited_create(
            BreachCauseOption,
            history_user=actor,
            code=code,
            label=label,
            description=description,
            position=position * 10,
        )
        created += 1
    return created


def breach_cause_confirm(
    *, breach: Breach | int, cause: str, note: str, actor, now: datetime, only_unconfirmed: bool = False
) -> Breach:
    """Confirm (or correct) ``breach``'s cause as ``cause`` (a code of the list) with
    ``note``, by ``actor`` at ``now``: the breach's history records the actor, the case's
    timeline the confirmation. Refuses an unknown code, and an inactive one unless the
    breach already has it (a retired cause stays on the rows that had it). With
    ``only_unconfirmed`` (the review queue), a breach someone else confirmed meanwhile is
    refused rather than overwritten."""
    if not may_review_breach_causes(actor):
        raise NotAllowed("Only Duty Managers and Managers review breach causes.", field="cause")
    code = (cause or "").strip()
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise RuleViolation(f"Keep the note under {NOTE_MAX} characters.", field="note", code="too_long")
    with transaction.atomic():
        pk = breach.pk if isinstance(breach, Breach) else breach
        locked = (
            Breach.objects.select_for_update(of=("self",))
            .select_related("incident", "cause_confirmed_by")
            .filter(pk=pk)
            .first()
        )
        if locked is None:
            raise RuleViolation("That breach does not exist.", field="breach", code="not_found")
        if only_unconfirmed and locked.cause_confirmed_at is not None:
            raise RuleViolation(
                f"{person_name(locked.cause_confirmed_by)} confirmed this breach's cause at "
                f"{local_time(locked.cause_confirmed_at)}; reload to see it.",
                field="cause",
                code="already_confirmed",
            )
        if not code:
            raise RuleViolation("Choose a cause.", field="cause", code="required")
        option = BreachCauseOption.objects.filter(code=code).first()
        if option is None:
            raise RuleViolation(f"“{code}” is not a cause on the list.", field="cause", code="unknown_cause")
        if not option.is_active and option.code != locked.cause_id:
            raise RuleViolation(
                f"“{option.label}” is retired and can no longer be chosen; choose another cause.",
                field="cause",
                code="inactive_cause",
            )
        old = {"cause": locked.cause_id, "cause_note": locked.cause_note}
        locked.cause = option
        locked.cause_note = note
        locked.cause_confirmed_at = now
        locked.cause_confirmed_by = actor
        audited_save(
            locked,
            actor=actor,
            update_fields=["cause", "cause_note", "cause_confirmed_at", "cause_confirmed_by"],
            reason="Cause confirmed",
        )
        clock = ClockKind(locked.kind).label.lower()
        event_record(
            incident=locked.incident,
            kind=EventKind.BREACH_CAUSE_CONFIRMED,
            actor=actor,
            at=now,
            old=old,
            new={
                "cause": option.code,
                "cause_note": note,
                "clock": locked.kind,
                "cycle": locked.cycle,
                "suggested": locked.cause_suggested_id,
            },
            detail=f"Cause of the {clock} breach (due {local_time(locked.due_at)}): {option.label}"
            + (f" — {note}" if note else ""),
        )
        return locked


@dataclass(frozen=True)
class CausePick:
    """One row of the review queue's form: this breach, this cause, this note."""

    breach_id: int
    cause: str
    note: str = ""


class CausePickError(RuleViolation):
    """A refusal of one row of a batch; ``breach_id`` says which."""

    def __init__(self, error: ServiceError, breach_id: int):
        super().__init__(error.message, field=error.field, code=error.code)
        self.breach_id = breach_id


def breach_causes_confirm(*, picks: Sequence[CausePick], actor, now: datetime) -> list[Breach]:
    """Confirm several breaches' causes at once, all or nothing: if any row is refused,
    nothing is saved and every refusal is raised together (the first, with the others
    in ``others``), each naming its breach."""
    if not picks:
        raise RuleViolation("Tick at least one breach to confirm.", field="confirm", code="required")
    errors: list[CausePickError] = []
    done: list[Breach] = []
    with transaction.atomic():
        for pick in picks:
            try:
                with transaction.atomic():
                    done.append(
                        breach_cause_confirm(
                            breach=pick.breach_id,
                            cause=pick.cause,
                            note=pick.note,
                            actor=actor,
                            now=now,
                            only_unconfirmed=True,
                        )
                    )
            except ServiceError as exc:
                errors.append(CausePickError(exc, pick.breach_id))
        if errors:
            first = errors[0]
            first.others = tuple(errors[1:])
            raise first
    return done
