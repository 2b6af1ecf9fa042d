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


def submission_claim(*, token: uuid.UUID, user, now: datetime) -> tuple[FormSubmission, bool]:
    """Claim ``token`` for this POST: (its row, True) when it is new (go ahead), else
    (the earlier submission, False); the earlier one's ``result_url`` is blank while its
    POST still runs."""
    try:
        with transaction.atomic():
            return audited_create(FormSubmission, history_user=user, token=token, user=user, created_at=now), True
    except IntegrityError:
        earlier = FormSubmission.objects.filter(token=token, user=user).first()
        return earlier or FormSubmission(token=token), False


def submission_done(*, submission: FormSubmission, result_url: str, user) -> None:
    submission.result_url = result_url[:500]
    audited_save(submission, actor=user, update_fields=["result_url"])


def submission_release(*, submission: FormSubmission, user) -> None:
    """The POST was refused (a form error): the same form may be corrected and sent again."""
    audited_delete(submission, actor=user)


def submissions_purge(*, now: datetime) -> int:
    """Forget tokens older than FORM_TOKEN_DAYS (history rows record each deletion)."""
    old = list(FormSubmission.objects.filter(created_at__lt=now - timedelta(days=FORM_TOKEN_DAYS))[:10_000])
    actor = system_user()
    for submission in old:
        audited_delete(submission, actor=actor)
    return len(old)
