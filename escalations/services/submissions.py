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


def submission_claim(*, token: uuid.UUID, user, now: datetime) -> FormSubmission | None:
    """Claim ``token`` for this POST: None when it is new (go ahead), else the earlier
    submission (its ``result_url`` is blank while that POST still runs)."""
    try:
        with transaction.atomic():
            audited_create(FormSubmission, history_user=user, token=token, user=user, created_at=now)
    except IntegrityError:
        return FormSubmission.objects.filter(token=token, user=user).first() or FormSubmission(token=token)
    return None


def submission_done(*, token: uuid.UUID, result_url: str, user) -> None:
    submission = FormSubmission.objects.filter(token=token).first()
    if submission is not None:
        submission.result_url = result_url[:500]
        audited_save(submission, actor=user, update_fields=["result_url"])


def submission_release(*, token: uuid.UUID, user) -> None:
    """The POST was refused (a form error): the same form may be corrected and sent again."""
    submission = FormSubmission.objects.filter(token=token, result_url="").first()
    if submission is not None:
        audited_delete(submission, actor=user)


def submissions_purge(*, now: datetime) -> int:
    """Forget tokens older than FORM_TOKEN_DAYS (history rows record each deletion)."""
    old = list(FormSubmission.objects.filter(created_at__lt=now - timedelta(days=FORM_TOKEN_DAYS))[:10_000])
    actor = system_user()
    for submission in old:
        audited_delete(submission, actor=actor)
    return len(old)
