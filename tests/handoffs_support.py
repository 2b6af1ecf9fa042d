"""Handoff packets built by hand for the audit pages: any outcome at any time, without
walking a case through the stages the offer service requires."""

from __future__ import annotations

from datetime import datetime, timedelta

from escalations.choices import HandoffStatus, Stage
from escalations.models import HandoffPacket, Incident


def hand_built_handoff(
    incident: Incident,
    *,
    from_user,
    offered_at: datetime,
    to_user=None,
    to_team=None,
    from_team=None,
    from_stage: str = Stage.TRIAGE,
    to_stage: str = Stage.TRIAGE,
    status: str = HandoffStatus.OFFERED,
    answered_after: timedelta | None = None,
    responded_by=None,
    rejection_reason: str = "",
    expired: bool = False,
    **packet: str,
) -> HandoffPacket:
    values = {
        "summary": "Checkout fails for EU cards",
        "customer_impact": "EU customers cannot pay",
        "next_steps": "Roll back the payment gateway change",
        "acceptance_criteria": "Payments succeed for an hour",
        "checklist_state": [
            {"item": "Confirm the customer impact", "stage": "triage", "required": True, "done": True},
            {"item": "Open the incident bridge", "stage": "triage", "required": False, "done": False},
        ],
    }
    values.update(packet)
    responded_at = offered_at + answered_after if answered_after is not None else None
    return HandoffPacket.objects.create(
        incident=incident,
        from_user=from_user,
        from_team=from_team,
        from_stage=from_stage,
        to_user=to_user,
        to_team=to_team,
        to_stage=to_stage,
        status=status,
        offered_at=offered_at,
        accept_due_at=offered_at + timedelta(minutes=15),
        responded_at=responded_at,
        responded_by=responded_by if responded_by is not None else (to_user if responded_at else None),
        rejection_reason=rejection_reason,
        accept_breached_at=offered_at + timedelta(minutes=15) if expired else None,
        **values,
    )
