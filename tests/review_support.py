"""The weekly review's hand-computed fixture, shared by the integration and browser
tests (tests/integration/test_review.py states every figure it yields).

In ISO week 2026-W47 (Mon 16 Nov – Mon 23 Nov, UTC; London is on UTC then):

- A, S2 (24x7): opened Mon 10:00, acknowledged 10:10 (TTA 600 s, met), customer update
  10:20 (on time), paused 10:30–11:30, triage → command at 12:00, resolved 13:00 (cycle 1:
  3 h − 1 h paused = 7,200 s, met); reopened Tue 10:00, resolved 11:00 (cycle 2: 3,600 s).
  Two handoffs (hand-built): Mon 11:00 alice → bob accepted after 5 min; Mon 12:00 bob →
  alice accepted after 15 min (ping-pong: back to the person it left).
- B, S3 on business hours (Mon–Fri 09:00–17:00 London): opened Wed 16:00, acknowledged
  Thu 10:00 (TTA 1 h Wed + 1 h Thu = 7,200 s, met); customer sentiment negative; open.
- C, opened Thu 09:00 as S3, raised to S2 by a person at 09:20 (a severity override),
  acknowledged 09:45 (TTA 2,700 s, over S2's 30 min: missed); an acknowledge breach and an
  update breach (cause: team at capacity); a customer update at 11:00 (late); open.
- E, S2 ($100,000 ARR at risk): opened Fri 10:00, never acknowledged: an acknowledge breach
  (nobody owned it) and an update breach (team at capacity), both unmet at the week's end;
  an executive escalation at 12:00 by the Manager; open.
- F, S2 ($60,000) in the week before (W46): acknowledged after 300 s; open.
- D, a drill S2 with everything (acknowledged, breach, executive escalation, resolved):
  never counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from escalations.choices import BreachCause, ClockKind, HandoffStatus, PauseReason, Sentiment, Stage
from escalations.models import Breach, Escalation, Incident
from escalations.services import (
    customer_update_post,
    incident_acknowledge,
    incident_change_severity,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_set_stage,
    incident_update,
)
from tests.checklists_support import complete_checklist
from tests.handoffs_support import hand_built_handoff

M = timedelta(minutes=1)
H = timedelta(hours=1)
MON = datetime(2026, 11, 16, tzinfo=UTC)  # 2026-W47 starts
WEEK = "2026-W47"
LAST = 12  # index of the chosen week in every 13-week series
AFTER = datetime(2026, 11, 23, 0, 0, 30, tzinfo=UTC)  # just after 2026-W47 ended


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 is Monday of 2026-W47."""
    return MON + timedelta(days=day, hours=hour, minutes=minute)


def keep(now: datetime = AFTER) -> int:
    """What the beat does after a week ends: compute and keep the complete weeks."""
    from escalations.services.review_weeks import review_weeks_keep

    return review_weeks_keep(now=now)


def breach(incident, kind, *, due_at, cause, severity="S2", cycle=1):
    """A breach whose cause was confirmed in review (the cause is a code of the list)."""
    from escalations.services import system_user

    return Breach.objects.create(
        incident=incident,
        kind=kind,
        cycle=cycle,
        severity=severity,
        due_at=due_at,
        detected_at=due_at + M,
        cause_id=cause,
        cause_confirmed_at=due_at + 2 * M,
        cause_confirmed_by=system_user(),
    )


def resolve(incident, actor, now):
    complete_checklist(incident, actor, now, stage=Incident.objects.get(pk=incident.pk).stage)
    return incident_resolve(incident=incident.pk, resolution="Rolled back", actor=actor, now=now)


def build_week_of_cases(make_incident, agent, other_agent, manager) -> dict[str, Incident]:
    """The fixture the module docstring describes, built through the services (breaches,
    handoffs and the executive escalation by hand, at exact times)."""
    # A: pauses, a stage move, a reopen, two handoffs (one ping-pong).
    a = make_incident(title="A", now=at(0, 10))
    incident_acknowledge(incident=a, actor=agent, now=at(0, 10, 10))
    customer_update_post(incident=a, body="Looking", channel=None, actor=agent, now=at(0, 10, 20))
    incident_pause(incident=a, reason=PauseReason.CUSTOMER, note="Logs", actor=agent, now=at(0, 10, 30))
    incident_resume(incident=a, actor=agent, now=at(0, 11, 30))
    hand_built_handoff(
        a, from_user=agent, to_user=other_agent, offered_at=at(0, 11), status=HandoffStatus.ACCEPTED,
        answered_after=5 * M,
    )  # fmt: skip
    hand_built_handoff(
        a, from_user=other_agent, to_user=agent, offered_at=at(0, 12), status=HandoffStatus.ACCEPTED,
        answered_after=15 * M,
    )  # fmt: skip
    complete_checklist(a, agent, at(0, 12), stage=Stage.TRIAGE)
    incident_set_stage(incident=a.pk, stage=Stage.COMMAND, actor=agent, now=at(0, 12))
    resolve(a, agent, at(0, 13))
    incident_reopen(incident=a.pk, reason="Came back", actor=agent, now=at(1, 10))
    resolve(a, agent, at(1, 11))

    # B: business hours.
    b = make_incident(title="B", arr_at_risk=0, now=at(2, 16))
    incident_acknowledge(incident=b, actor=agent, now=at(3, 10))
    incident_update(incident=b.pk, actor=agent, now=at(3, 10), sentiment=Sentiment.NEGATIVE)

    # C: raised from S3 to S2 by a person; acknowledged late; a late update.
    c = make_incident(title="C", arr_at_risk=0, now=at(3, 9))
    incident_change_severity(incident=c.pk, severity="S2", reason="Customer escalated", actor=agent, now=at(3, 9, 20))
    incident_acknowledge(incident=c.pk, actor=agent, now=at(3, 9, 45))
    breach(c, ClockKind.ACK, due_at=at(3, 9, 30), cause=BreachCause.CAPACITY)
    breach(c, ClockKind.UPDATE, due_at=at(3, 10), cause=BreachCause.CAPACITY)
    customer_update_post(incident=c.pk, body="Sorry", channel=None, actor=agent, now=at(3, 11))

    # E: never acknowledged; its breaches stay unmet; an executive escalation.
    e = make_incident(title="E", arr_at_risk=100000, now=at(4, 10))
    breach(e, ClockKind.ACK, due_at=at(4, 10, 30), cause=BreachCause.UNASSIGNED)
    breach(e, ClockKind.UPDATE, due_at=at(4, 11), cause=BreachCause.CAPACITY)
    Escalation.objects.create(
        incident=e, level=5, reason="Executive sponsor asked", created_at=at(4, 12), actor=manager, is_executive=True
    )

    # F: the week before.
    f = make_incident(title="F", now=at(-7, 10))
    incident_acknowledge(incident=f, actor=agent, now=at(-7, 10, 5))

    # D: a drill with a bit of everything.
    d = make_incident(title="D", is_drill=True, actor=manager, now=at(0, 9))
    incident_acknowledge(incident=d, actor=manager, now=at(0, 9, 1))
    breach(d, ClockKind.ACK, due_at=at(0, 9), cause=BreachCause.THIRD_PARTY)
    Escalation.objects.create(
        incident=d, level=5, reason="Drill", created_at=at(0, 9, 5), actor=manager, is_executive=True
    )
    resolve(d, manager, at(0, 10))
    return {"a": a, "b": b, "c": c, "e": e, "f": f, "d": d}
