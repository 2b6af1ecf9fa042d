"""Paging at intake. Placeholder until the breach engine lands: it must notify the
on-duty Support Duty Manager (and the commander when required) for policies that page."""

from __future__ import annotations

from datetime import datetime

from escalations.models import Incident


def incident_page_on_intake(*, incident: Incident, now: datetime) -> None:
    return None
