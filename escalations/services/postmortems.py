"""Root cause analyses: saving one, and what its schedule makes true on the case."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from escalations.choices import ChecklistFact
from escalations.models import Postmortem
from escalations.services.checklists import checklist_facts_tick
from escalations.services.common import audited_save


def postmortem_save(*, postmortem: Postmortem, actor, now: datetime) -> Postmortem:
    """Save the RCA as ``actor``. Once it has a due date it is scheduled: the case's
    "RCA scheduled" items tick themselves (every door that saves an RCA comes here)."""
    with transaction.atomic():
        audited_save(postmortem, actor=actor)
        if postmortem.due_at is not None:
            checklist_facts_tick(
                incident=postmortem.incident, facts={ChecklistFact.RCA_SCHEDULED}, actor=actor, now=now
            )
    return postmortem


__all__ = ["postmortem_save"]
