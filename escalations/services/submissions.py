"""One-time form tokens: a workspace form's POST does its work once, whatever the
browser repeats (Back and resubmit, a double click, a replayed request)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from escalations.models import FormSubmission

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
            FormSubmission.objects.create(token=token, user=user, created_at=now)
    except IntegrityError:
        return FormSubmission.objects.filter(token=token, user=user).first() or FormSubmission(token=token)
    return None


def submission_done(*, token: uuid.UUID, result_url: str) -> None:
    FormSubmission.objects.filter(token=token).update(result_url=result_url[:500])


def submission_release(*, token: uuid.UUID) -> None:
    """The POST was refused (a form error): the same form may be corrected and sent again."""
    FormSubmission.objects.filter(token=token, result_url="").delete()


def submissions_purge(*, now: datetime) -> int:
    return FormSubmission.objects.filter(created_at__lt=now - timedelta(days=FORM_TOKEN_DAYS)).delete()[0]
