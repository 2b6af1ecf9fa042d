"""The notification outbox: rows written in the same transaction as the change that caused
them, published to Celery after commit, delivered by ``notification_deliver``, retried
with exponential backoff by ``notifications_retry_due``.

Delivery is at-least-once towards the receiver (a worker can die after the POST and
before recording it); every message carries the row's idempotency key so receivers can
drop a repeat. Towards our own rows it is exactly-once: a row is sent under a row lock
and only while still pending.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from simple_history.utils import bulk_update_with_history

from escalations import fastpath
from escalations.choices import NotificationChannel, NotificationStatus
from escalations.lib.outages import BROKER
from escalations.models import Escalation, Incident, Notification, Team
from escalations.services.common import audited_save, system_user
from escalations.services.engine.roster import Recipient
from escalations.services.webhooks import webhook_post, webhook_signature_headers

logger = logging.getLogger(__name__)

# escalations.tasks.deliver_notification's registered name.
DELIVER_TASK = "escalations.deliver_notification"

IDEMPOTENCY_HEADER = "X-Idempotency-Key"


def case_url(incident_id: int) -> str:
    # Built by hand, not reverse(): the web URLconf is owned elsewhere; the contract is
    # /cases/<pk>/, /cases/<pk>/acknowledge/ and /pages/.
    return f"{settings.SITE_URL}/cases/{incident_id}/"


def acknowledge_url(incident_id: int) -> str:
    return f"{settings.SITE_URL}/cases/{incident_id}/acknowledge/"


def pages_url() -> str:
    return f"{settings.SITE_URL}/pages/"


def incident_summary(incident: Incident) -> dict:
    """The case as a webhook receiver sees it: plain values only."""
    return {
        "id": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "escalation_level": incident.escalation_level,
        "is_drill": incident.is_drill,
        "url": case_url(incident.pk),
        "acknowledge_url": acknowledge_url(incident.pk),
    }


def notification_values(
    *, incident: Incident, recipient: Recipient, kind: str, key: str, subject: str, text: str, now: datetime
) -> dict:
    """The columns of an outbox row (field attname → value), without the links to the case
    and the escalation: what ``notification_build`` makes a model of, and what the sweep
    writes by COPY. ``key`` (unique) makes the same notice impossible to write twice;
    drills get rows marked suppressed that are never delivered."""
    payload = {
        "kind": kind,
        "text": text,
        "incident": incident_summary(incident),
        "links": {"case": case_url(incident.pk)},
    }
    if kind in ("page", "escalation") and incident.acknowledged_at is None:
        # A page to an on-duty person links straight to acknowledging the case (which
        # answers the escalation rung too).
        payload["links"]["acknowledge"] = acknowledge_url(incident.pk)
    elif kind == "escalation":
        # An acknowledged case's rung is answered from the paging inbox.
        payload["links"]["acknowledge"] = pages_url()
    in_app = recipient.channel == NotificationChannel.IN_APP
    if incident.is_drill:
        status, next_attempt_at, sent_at = NotificationStatus.SUPPRESSED, None, None
    elif in_app:
        # The row is the in-app notice: it is in the person's inbox the moment the
        # transaction commits, so it is written delivered and no task is published.
        status, next_attempt_at, sent_at = NotificationStatus.SENT, None, now
    else:
        # If the after-commit publish is lost (broker down), the retry pass picks the row
        # up once this passes; a delivered row is no longer pending so it is skipped.
        status, sent_at = NotificationStatus.PENDING, None
        next_attempt_at = now + timedelta(seconds=settings.NOTIFICATION_FIRST_RETRY_SECONDS)
    return {
        "channel": recipient.channel,
        "recipient_id": recipient.user_id,
        "address": recipient.address[:500],
        "subject": subject[:300],
        "payload": payload,
        "idempotency_key": f"{key}:{recipient.channel}:{recipient.key}"[:200],
        "status": status,
        "attempts": 1 if sent_at else 0,
        "next_attempt_at": next_attempt_at,
        "sent_at": sent_at,
        "created_at": now,
    }


def notification_build(
    *,
    incident: Incident,
    recipient: Recipient,
    kind: str,
    key: str,
    subject: str,
    text: str,
    now: datetime,
    escalation: Escalation | None = None,
) -> Notification:
    """An unsaved outbox row (see ``notification_values``)."""
    values = notification_values(
        incident=incident, recipient=recipient, kind=kind, key=key, subject=subject, text=text, now=now
    )
    return Notification(incident=incident, escalation=escalation, **values)


def notifications_enqueue_on_commit(notifications: Iterable[Notification]) -> None:
    """Publish delivery tasks once the surrounding transaction commits (never for rows
    that might roll back)."""
    notification_ids_enqueue_on_commit(
        [n.pk for n in notifications if n.pk is not None and n.status == NotificationStatus.PENDING]
    )


def notification_ids_enqueue_on_commit(ids: list[int]) -> None:
    """``notifications_enqueue_on_commit`` for rows written without model instances (the
    sweep): ``ids`` are the pending rows' primary keys."""
    if ids:
        transaction.on_commit(lambda: notifications_publish(ids))


def notifications_publish(ids: list[int]) -> int:
    """Publish one delivery task per id. Never raises: a web request that already
    committed must not fail because the broker is down. On the first failure the rest are
    left to the retry pass, and this process stops publishing for a while
    (``outages.BROKER``: the failures are counted and logged once a minute, not once per
    write). Returns how many were published."""
    if BROKER.holding_off():
        return 0
    published = 0
    try:
        with current_app.producer_or_acquire() as producer:
            # One connection attempt: kombu's own retry would sleep 2 s first.
            producer.connection.ensure_connection(max_retries=0)
            for pk in ids:
                # By name: the services never import the tasks module, which imports them.
                current_app.send_task(DELIVER_TASK, args=[pk], producer=producer, retry=False)
                published += 1
    except Exception as exc:  # noqa: BLE001 — any broker error: kombu, redis, socket, timeout
        BROKER.failed(exc)
        logger.debug("%d of %d notification deliveries left to the retry pass", len(ids) - published, len(ids))
    else:
        BROKER.succeeded()
    return published


def publish_pause_reset() -> None:
    """Forget an earlier publish failure (tests, or after an operator fixed the broker)."""
    BROKER.reset()


def backoff_seconds(attempts: int) -> float:
    """Delay before attempt ``attempts + 1``: base × 2^(attempts − 1), capped."""
    base = settings.NOTIFICATION_BACKOFF_BASE_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.NOTIFICATION_BACKOFF_MAX_SECONDS)


def webhook_body(notification: Notification) -> bytes:
    """Slack-compatible JSON: ``text`` is what a chat room shows; the rest is for programs."""
    payload = notification.payload or {}
    body = {
        "text": payload.get("text") or notification.subject,
        "kind": payload.get("kind", ""),
        "incident": payload.get("incident", {}),
        "links": payload.get("links", {}),
        "notification": {"id": notification.pk, "idempotency_key": notification.idempotency_key},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class DeliveryError(Exception):
    pass


def _send_webhook(notification: Notification, now: datetime) -> None:
    """POST to the team's webhook, signed with the secret of every team that uses this
    URL now. A URL no team uses any more is not sent to: the row was written for a
    configuration an admin has since changed. Errors carry the status code and our own
    words, never the receiver's answer (``last_error`` is shown to every admin)."""
    secrets = sorted(Team.objects.filter(webhook_url=notification.address).values_list("webhook_secret", flat=True))
    if not secrets:
        raise DeliveryError("no team uses this webhook URL any more; not sent")
    body = webhook_body(notification)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "escalations-webhook/2",
        IDEMPOTENCY_HEADER: notification.idempotency_key,
        # The id is the idempotency key, so it is the same on every attempt (receivers
        # drop repeats by it); the timestamp is this attempt's.
        **webhook_signature_headers(
            secrets=secrets, msg_id=notification.idempotency_key, timestamp=int(now.timestamp()), body=body
        ),
    }
    status = webhook_post(notification.address, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from the receiver (its answer is not recorded)")


def _send(notification: Notification, now: datetime) -> None:
    channel = notification.channel
    if channel == NotificationChannel.IN_APP:
        return  # the row itself is the in-app notice; "sent" means it is in the inbox
    if channel == NotificationChannel.EMAIL:
        if not notification.address:
            raise DeliveryError("no email address")
        payload = notification.payload or {}
        lines = [payload.get("text") or notification.subject, ""]
        lines += [f"{name.title()}: {url}" for name, url in (payload.get("links") or {}).items()]
        message = EmailMessage(
            subject=notification.subject,
            body="\n".join(lines),
            to=[notification.address],
            headers={IDEMPOTENCY_HEADER: notification.idempotency_key},
        )
        if message.send(fail_silently=False) != 1:
            raise DeliveryError("the email backend sent nothing")
        return
    if channel == NotificationChannel.WEBHOOK:
        _send_webhook(notification, now)
        return
    raise DeliveryError(f"unknown channel {channel!r}")


def notification_deliver(*, notification_id: int, now: datetime, actor) -> str:
    """Send one pending notification; record success, or the failure with the next
    attempt time, or — after the last attempt — mark it failed.

    Returns what happened: "sent", "retry", "failed" or "skipped" (not pending any more,
    being sent by another worker, or not due yet). Idempotent: a repeated task for a row
    already sent does nothing. The row lock is held while sending so two workers never
    send the same row; skip_locked makes the second one return at once."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return "skipped"
        # The first attempt goes at once; later ones wait for their backoff even if a
        # stray duplicate task arrives early.
        if notification.attempts and notification.next_attempt_at and notification.next_attempt_at > now:
            return "skipped"
        try:
            _send(notification, now)
        except Exception as exc:  # noqa: BLE001 — record any failure on the row, never lose it
            notification.attempts += 1
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if notification.attempts >= notification.max_attempts:
                notification.status = NotificationStatus.FAILED
                notification.next_attempt_at = None
                outcome = "failed"
                logger.error("Notification %s failed for good: %s", notification.pk, notification.last_error)
            else:
                notification.next_attempt_at = now + timedelta(seconds=backoff_seconds(notification.attempts))
                outcome = "retry"
                logger.warning(
                    "Notification %s attempt %s failed (%s); next at %s",
                    notification.pk,
                    notification.attempts,
                    notification.last_error,
                    notification.next_attempt_at.isoformat(),
                )
            audited_save(
                notification, actor=actor, update_fields=["attempts", "last_error", "status", "next_attempt_at"]
            )
            return outcome
        notification.attempts += 1
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.next_attempt_at = None
        audited_save(notification, actor=actor, update_fields=["attempts", "status", "sent_at", "next_attempt_at"])
        return "sent"


def notifications_retry_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of pending notifications whose next attempt is due (notification_retry_idx):
    failed attempts after their backoff, and rows whose after-commit publish was lost.

    A row never attempted is leased as it is returned: its next attempt moves
    NOTIFICATION_RETRY_LEASE_SECONDS on, so the passes that follow do not publish it
    again while its delivery waits in the queue (after a broker outage, hundreds of rows
    are due at once and a worker drains them slower than a pass every few seconds would
    publish them). A delivery that fails sets its own backoff, so attempted rows are
    never leased: their task would take the lease for a backoff and skip."""
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .only("pk", "attempts", "next_attempt_at")[:limit]
        )
        fresh = [n for n in due if not n.attempts]
        for notification in fresh:
            notification.next_attempt_at = now + timedelta(seconds=settings.NOTIFICATION_RETRY_LEASE_SECONDS)
        fastpath.update_with_history(fresh, ["next_attempt_at"], actor=system_user())
    return [n.pk for n in due]


# A "retry now" on a failed notification gives it this many more attempts.
RETRY_NOW_ATTEMPTS = 3


def notifications_retry_failed(*, ids: Iterable[int], actor, now: datetime) -> int:
    """Put failed notifications back in the outbox: due at once, with RETRY_NOW_ATTEMPTS
    more attempts (the attempts made so far stay counted, and the history shows who
    asked). Rows that are not failed are left alone. Returns how many were requeued;
    their delivery tasks are published after commit (the retry pass covers a lost one)."""
    requeued: list[int] = []
    with transaction.atomic():
        for notification in Notification.objects.select_for_update().filter(
            pk__in=list(ids), status=NotificationStatus.FAILED
        ):
            notification.status = NotificationStatus.PENDING
            notification.max_attempts = notification.attempts + RETRY_NOW_ATTEMPTS
            notification.next_attempt_at = now
            audited_save(notification, actor=actor, update_fields=["status", "max_attempts", "next_attempt_at"])
            requeued.append(notification.pk)
        notification_ids_enqueue_on_commit(requeued)
    return len(requeued)


def notifications_mark_read(
    *, user, now: datetime, incident: Incident | None = None, pages: Iterable[int] | None = None
) -> int:
    """Mark the person's unread in-app pages read — all of them; with ``incident``, the
    pages about a case they acknowledged; with ``pages``, those ids (their inbox's answer,
    ``services.chain.pages_acknowledge``) — with history rows naming them. Returns how many."""
    with transaction.atomic():
        unread = Notification.objects.select_for_update().filter(
            recipient=user, channel=NotificationChannel.IN_APP, read_at__isnull=True
        )
        if incident is not None:
            unread = unread.filter(incident=incident)
        if pages is not None:
            unread = unread.filter(pk__in=list(pages))
        unread = list(unread.order_by("pk"))
        for notification in unread:
            notification.read_at = now
        if unread:
            bulk_update_with_history(unread, Notification, ["read_at"], default_user=user, default_date=now)
    return len(unread)


__all__ = [
    "IDEMPOTENCY_HEADER",
    "RETRY_NOW_ATTEMPTS",
    "acknowledge_url",
    "backoff_seconds",
    "case_url",
    "notification_build",
    "notification_deliver",
    "notification_ids_enqueue_on_commit",
    "notification_values",
    "notifications_enqueue_on_commit",
    "notifications_mark_read",
    "notifications_publish",
    "notifications_retry_due",
    "notifications_retry_failed",
    "publish_pause_reset",
    "webhook_body",
]
