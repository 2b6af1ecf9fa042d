"""Completing a case's checklist in tests: the items that stand for a fact are made true
through the services (they tick themselves), the rest are ticked by hand."""

from __future__ import annotations

from datetime import datetime

from escalations.choices import ChecklistFact
from escalations.models import ChecklistItem, Incident
from escalations.services import checklist_item_set_done, customer_update_post, incident_acknowledge, incident_update


def complete_checklist(incident: Incident, user, now: datetime, *, stage: str | None = None) -> None:
    items = ChecklistItem.objects.filter(checklist__incident=incident, done_at__isnull=True)
    if stage:
        items = items.filter(checklist__stage=stage)
    facts = set(items.exclude(fact="").values_list("fact", flat=True))
    incident = Incident.objects.get(pk=incident.pk)
    if ChecklistFact.ACKNOWLEDGED in facts and incident.acknowledged_at is None:
        incident_acknowledge(incident=incident, actor=user, now=now)
    if ChecklistFact.FIRST_CUSTOMER_UPDATE in facts:
        customer_update_post(incident=incident, body="Working on it", channel=None, actor=user, now=now)
    edits = {}
    if ChecklistFact.COMMANDER_SET in facts and incident.commander_id is None:
        edits["commander"] = user
    if ChecklistFact.BRIDGE_LINKED in facts and not incident.bridge_url:
        edits["bridge_url"] = "https://meet.example.com/bridge"
    if edits:
        incident_update(incident=incident, actor=user, now=now, **edits)
    for item in items.filter(fact="", done_at__isnull=True):
        checklist_item_set_done(item=item, done=True, actor=user, now=now)
