"""The REST API: thin doors onto the service layer. Each endpoint checks access (role
permission, then the selectors' per-object accessor), validates shape with its input
serializer, reads the clock once, calls one service (or, for PATCH, a few inside one
transaction) and renders with its output serializer. Errors: escalations.api.errors.

Concurrency: PATCH and every action accept the case ``version`` the caller last read,
in the body or as ``If-Match: "<version>"``. It is optional; when given and stale, the
change is refused with 412 (and the current version and what changed) and nothing is
written. Case responses carry ``ETag: "<version>"``.
"""

from __future__ import annotations

from escalations.api.views.case_parts import (
    ChecklistItemCompleteView,
    ChecklistView,
    CustomerUpdateListView,
    HandoffAcceptView,
    HandoffAnswerView,
    HandoffListView,
    HandoffRejectView,
    TimelineView,
)
from escalations.api.views.cases import (
    AcknowledgeView,
    CloseView,
    IncidentActionView,
    IncidentDetailView,
    IncidentListView,
    PauseView,
    ReopenView,
    ResolveView,
    ResumeView,
    SeverityView,
)
from escalations.api.views.intake import IntakeView, TokenView
from escalations.api.views.reference import (
    BreachListView,
    PolicyDetailView,
    PolicyListView,
    WeeklyFiguresView,
    WeeklyMetricsView,
)

__all__ = [
    "AcknowledgeView",
    "BreachListView",
    "ChecklistItemCompleteView",
    "ChecklistView",
    "CloseView",
    "CustomerUpdateListView",
    "HandoffAcceptView",
    "HandoffAnswerView",
    "HandoffListView",
    "HandoffRejectView",
    "IncidentActionView",
    "IncidentDetailView",
    "IncidentListView",
    "IntakeView",
    "PauseView",
    "PolicyDetailView",
    "PolicyListView",
    "ReopenView",
    "ResolveView",
    "ResumeView",
    "SeverityView",
    "TimelineView",
    "TokenView",
    "WeeklyFiguresView",
    "WeeklyMetricsView",
]
