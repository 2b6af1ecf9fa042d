from __future__ import annotations

from django.http import HttpRequest

from escalations.security.access import may_see_manager_pages, user_is_staff_member, user_may_change_cases


def navigation(request: HttpRequest) -> dict:
    """What the navigation may show this user (permissions decide, not roles by name).
    The views enforce the same permissions; hiding a link is only a courtesy."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    can_view = user_is_staff_member(user)
    return {
        "nav": {
            "can_view": can_view,
            "can_work": user_may_change_cases(user),
            "can_create": can_view and user.has_perm("escalations.add_incident"),
            "can_admin": user.is_staff,
            "can_review": may_see_manager_pages(user),
        }
    }
