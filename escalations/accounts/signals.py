"""Receivers for sign-in plumbing Django only announces by signal. Workflow never runs
from signals (docs/architecture.md); these two keep credentials and sessions honest
whichever door changed them: the admin, the password-change page, `changepassword`,
or a script calling set_password."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from simple_history.models import HistoricalRecords

from escalations.accounts.middleware import SessionIdleTimeoutMiddleware


def _request_user() -> Any | None:
    """The signed-in user of the request being served (simple-history's middleware keeps
    the request), or None outside a request."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def revoke_tokens_on_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A changed password revokes the user's API tokens, as it ends their other sessions.

    ``set_password`` leaves the raw password in ``_password`` until the save that
    follows it; Django clears it before re-saving a hash it only upgraded on sign-in, so
    an upgrade revokes nothing. A password set on a new account is not a change."""
    if created or getattr(instance, "_password", None) is None:
        return
    from escalations.services.tokens import password_changed_record

    password_changed_record(user=instance, actor=_request_user())


def start_idle_clock(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Sign-in writes the session anyway: note the time, so the first pages after it do
    not write it again (SessionIdleTimeoutMiddleware)."""
    if getattr(request, "session", None) is not None:
        request.session[SessionIdleTimeoutMiddleware.KEY] = int(time.time())


def connect() -> None:
    post_save.connect(
        revoke_tokens_on_password_change, sender=get_user_model(), dispatch_uid="escalations.revoke_tokens"
    )
    user_logged_in.connect(start_idle_clock, dispatch_uid="escalations.start_idle_clock")
