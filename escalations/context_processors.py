from __future__ import annotations


def navigation(request) -> dict:
    """What the navigation may show this user (permissions decide, not roles by name)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    return {
        "nav": {
            "can_create": user.has_perm("escalations.add_incident"),
            "can_admin": user.is_staff,
            "can_review": user.has_perm("escalations.view_breach"),
        }
    }
