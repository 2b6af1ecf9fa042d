"""Role permissions for the API: the same Django permissions the web app checks.

Each view names the permissions each HTTP method needs in ``required_perms``. Per-object
access (may this user see / change *this* case) is then checked by the selectors'
vetted accessors, so the rule is written once for web and API.

The matrix (roles from escalations.security.roles):

    endpoint                         needs                              roles
    GET cases, timeline, checklist   escalations.view_incident          all five
    POST /incidents/, /intake/       escalations.add_incident           agents, DMs, managers, integrations
    PATCH, actions, updates, hand-   escalations.change_incident        agents, DMs, engineers, managers
      offs, checklist items
    GET /breaches/                   escalations.view_breach            all five
    GET /policies/                   escalations.view_severitypolicy    all five
    PATCH /policies/{key}/           escalations.change_severitypolicy  policy admins
    GET /metrics/weekly/ (v1, v2)    escalations.view_review            DMs, managers (the weekly review)
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class RolePermission(BasePermission):
    """Authenticated, active, and holding every permission the view lists for the method.
    DRF turns a refusal for an anonymous caller into 401, for a known one into 403."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        required: dict[str, tuple[str, ...]] = getattr(view, "required_perms", {})
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        perms = required.get(method)
        if perms is None:
            # Unlisted and unimplemented: let DRF answer 405. Implemented but unlisted is a
            # mistake in the view; refuse rather than open it to every role.
            return not hasattr(view, request.method.lower()) or request.method in ("HEAD", "OPTIONS")
        return user.has_perms(perms)
