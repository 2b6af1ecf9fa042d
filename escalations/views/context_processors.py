from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """What the navigation may show this user (permissions decide, not roles by name).
    The views enforce the same permissions; hiding a link is only a courtesy."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    can_view = user.is_active and user.has_perm("escalations.view_incident")
    return {
        "nav": {
            "can_view": can_view,
            "can_work": can_view and user.has_perm("escalations.change_incident"),
            "can_create": can_view and user.has_perm("escalations.add_incident"),
            "can_admin": user.is_staff,
            "can_review": can_view and user.has_perm("escalations.view_review"),
        }
    }
