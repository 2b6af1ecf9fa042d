"""API routes. Included at the site root by config/urls.py, so paths here are full."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from escalations.api import views
from escalations.api.errors import api_not_found

app_name = "api"

incident_actions = [
    ("acknowledge", views.AcknowledgeView),
    ("pause", views.PauseView),
    ("resume", views.ResumeView),
    ("resolve", views.ResolveView),
    ("reopen", views.ReopenView),
    ("close", views.CloseView),
    ("severity", views.SeverityView),
]

urlpatterns = [
    path("api/v1/incidents/", views.IncidentListView.as_view(), name="incident-list"),
    path("api/v1/incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    *[
        path(f"api/v1/incidents/<int:pk>/{name}/", view.as_view(), name=f"incident-{name}")
        for name, view in incident_actions
    ],
    path("api/v1/incidents/<int:pk>/updates/", views.CustomerUpdateListView.as_view(), name="incident-updates"),
    path("api/v1/incidents/<int:pk>/timeline/", views.TimelineView.as_view(), name="incident-timeline"),
    path("api/v1/incidents/<int:pk>/checklist/", views.ChecklistView.as_view(), name="incident-checklist"),
    path("api/v1/incidents/<int:pk>/handoffs/", views.HandoffListView.as_view(), name="incident-handoffs"),
    path(
        "api/v1/checklist-items/<int:pk>/complete/",
        views.ChecklistItemCompleteView.as_view(),
        name="checklist-item-complete",
    ),
    path("api/v1/handoffs/<int:pk>/accept/", views.HandoffAcceptView.as_view(), name="handoff-accept"),
    path("api/v1/handoffs/<int:pk>/reject/", views.HandoffRejectView.as_view(), name="handoff-reject"),
    path("api/v1/breaches/", views.BreachListView.as_view(), name="breach-list"),
    path("api/v1/policies/", views.PolicyListView.as_view(), name="policy-list"),
    path("api/v1/policies/<str:key>/", views.PolicyDetailView.as_view(), name="policy-detail"),
    path("api/v1/metrics/weekly/", views.WeeklyMetricsView.as_view(), name="metrics-weekly"),
    path("api/v2/metrics/weekly/", views.WeeklyFiguresView.as_view(), name="metrics-weekly-v2"),
    path("api/v1/intake/", views.IntakeView.as_view(), name="intake"),
    path("api/v1/auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Signed-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); a browser without
    # a session is sent to the login page. The split view serves its start-up script as
    # a file: the CSP allows no inline script.
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
    # Last: any other /api/ path answers 404 in the API's error shape.
    re_path(r"^api/", api_not_found),
]
