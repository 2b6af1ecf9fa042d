"""One-time form tokens: a workspace form's POST does its work once, whatever the
browser repeats (Back and resubmit, a double click, a replayed request)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from escalations.models import FormSubmission
from escalations.services.common import audited_create, audited_delete, audited_save, system_user

# How long a form's token is remembered; a page older than this is sent as new.
FORM_TOKEN_DAYS = 7


def parse_token(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


class FormAlreadySent(Exception):
    """The token was claimed by an earlier POST; ``result_url`` is where that one led
    (blank while it still runs)."""

    def __init__(self, result_url: str):
        super().__init__(result_url)
        self.result_url = result_url


def submission_claim(*, token: uuid.UUID, user, now: datetime) -> FormSubmission:
    """Claim ``token`` for this POST, inside the caller's transaction, which also holds
    the POST's work: a second POST with the same token waits on the unique index until
    the first commits (then it is refused with ``FormAlreadySent``) or rolls back (then
    it goes ahead). A refused first POST rolls its claim back with its work, so nothing
    of it stays."""
    try:
        with transaction.atomic():
            return audited_create(FormSubmission, history_user=user, token=token, user=user, created_at=now)
    except IntegrityError:
        earlier = FormSubmission.objects.filter(token=token, user=user).values_list("result_url", flat=True).first()
        raise FormAlreadySent(earlier or "") from None


def submission_done(*, submission: FormSubmission, result_url: str, user) -> None:
    submission.result_url = result_url[:500]
    audited_save(submission, actor=user, update_fields=["result_url"])


def submissions_purge(*, now: datetime) -> int:
    """Forget tokens older than FORM_TOKEN_DAYS (history rows record each deletion)."""
    old = list(FormSubmission.objects.filter(created_at__lt=now - timedelta(days=FORM_TOKEN_DAYS))[:10_000])
    actor = system_user()
    for submission in old:
        audited_delete(submission, actor=actor)
    return len(old)
