"""Access: issuing and revoking API tokens, resetting login lockouts, and the access log.

Every function records an AccessEvent with its actor in the same transaction as the
change, so the log and the tokens cannot disagree. A token's key is returned once, by
``token_create``, and never stored: the table holds its SHA-512 digest (knox)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import get_digest_token
from knox.settings import CONSTANTS

from escalations.errors import NotAllowed
from escalations.models import AccessAction, AccessEvent, ApiToken
from escalations.security.roles import INTEGRATIONS
from escalations.services.common import audited_delete, history_note


def user_is_integration(user: Any) -> bool:
    """An integration account: a member of the Integrations role. Integrations have no
    usable password; they hold named tokens an administrator issued."""
    return user.groups.filter(name=INTEGRATIONS).exists()


def access_event_record(
    *,
    action: str,
    actor: Any | None,
    subject: Any | None = None,
    subject_name: str = "",
    detail: str = "",
    now: datetime | None = None,
) -> AccessEvent:
    return AccessEvent.objects.create(
        at=now or timezone.now(),
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        subject=subject,
        subject_name=subject_name or (subject.get_username() if subject is not None else ""),
        detail=detail[:500],
    )


def token_default_ttl(user: Any) -> timedelta | None:
    """People: API_TOKEN_TTL_HOURS. Integrations: INTEGRATION_TOKEN_TTL_DAYS, 0 = never."""
    if user_is_integration(user):
        days = settings.INTEGRATION_TOKEN_TTL_DAYS
        return timedelta(days=days) if days > 0 else None
    return timedelta(hours=settings.API_TOKEN_TTL_HOURS)


@transaction.atomic
def token_create(
    *, user: Any, actor: Any | None, name: str = "", ttl: timedelta | None | object = ..., now: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; returns (row, key). The key is shown once.

    ``ttl``: how long it lives (None: no expiry); default per ``token_default_ttl``. The
    user's expired tokens are removed on the way: nothing else reads them."""
    now = now or timezone.now()
    if ttl is ...:
        ttl = token_default_ttl(user)
    for expired in ApiToken.objects.filter(user=user, expiry__lt=now):
        audited_delete(expired, actor=actor)
    digest, key = get_digest_token()
    token = ApiToken(
        digest=digest,
        token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
        user=user,
        expiry=now + ttl if ttl is not None else None,
        name=name,
    )
    history_note(token, actor=actor)
    token.save(force_insert=True)
    expires = f"expires {token.expiry:%Y-%m-%d %H:%M} UTC" if token.expiry else "never expires"
    access_event_record(
        action=AccessAction.TOKEN_CREATED,
        actor=actor,
        subject=user,
        detail=f"{token.token_key}… {name or 'unnamed'}, {expires}",
        now=now,
    )
    return token, key


@transaction.atomic
def token_revoke(*, tokens: QuerySet[ApiToken] | list[ApiToken], actor: Any | None, reason: str = "") -> int:
    """Delete tokens (they stop working at once) and log each one. Returns how many."""
    rows = list(
        ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).select_related("user").select_for_update(of=("self",))
    )
    now = timezone.now()
    for token in rows:
        access_event_record(
            action=AccessAction.TOKEN_REVOKED,
            actor=actor,
            subject=token.user,
            detail=f"{token.token_key}… {token.name or 'unnamed'}" + (f": {reason}" if reason else ""),
            now=now,
        )
        # One by one: a queryset delete would leave the history's "revoked" row without
        # its actor.
        audited_delete(token, actor=actor)
    return len(rows)


def token_revoke_all(*, user: Any, actor: Any | None, reason: str = "") -> int:
    """Revoke every token of ``user`` (password changed, account compromised, leaver)."""
    return token_revoke(tokens=ApiToken.objects.filter(user=user), actor=actor, reason=reason)


def token_issue_for_password(*, user: Any, now: datetime | None = None) -> tuple[ApiToken, str]:
    """The token endpoint's door: a person who proved their password gets a token of the
    default lifetime. Superusers never get one this way: a leaked password must not
    become an API key with every permission that outlives a password change unseen."""
    if user.is_superuser:
        raise NotAllowed(
            "Superusers cannot obtain API tokens with a password; "
            "an administrator issues named tokens in the admin instead."
        )
    return token_create(user=user, actor=user, name="token endpoint", now=now)


@transaction.atomic
def password_changed_record(*, user: Any, actor: Any | None) -> int:
    """A password changed: revoke the user's tokens and log it. Sessions need nothing:
    Django already ends every other session when the password hash changes."""
    access_event_record(action=AccessAction.PASSWORD_CHANGED, actor=actor, subject=user)
    return token_revoke_all(user=user, actor=actor, reason="password changed")


@transaction.atomic
def lockout_reset(*, attempts: QuerySet, actor: Any | None) -> int:
    """Lift login lockouts: delete axes' AccessAttempt rows and log each one."""
    rows = list(attempts.select_for_update())
    now = timezone.now()
    for attempt in rows:
        access_event_record(
            action=AccessAction.LOCKOUT_RESET,
            actor=actor,
            subject_name=attempt.username or "",
            detail=f"address {attempt.ip_address}, {attempt.failures_since_start} failures",
            now=now,
        )
    attempts.model.objects.filter(pk__in=[a.pk for a in rows]).delete()
    return len(rows)
