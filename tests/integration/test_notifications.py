"""Outbox delivery: webhook (signed, Slack-compatible), email, in-app; retries with
exponential backoff; failed after the last attempt; idempotent; never raising into the
request that wrote the row when the broker is down."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core import mail

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.models import Notification, Team
from escalations.services.common import system_user
from escalations.services.engine.roster import Recipient
from escalations.services.notifications import (
    backoff_seconds,
    notification_build,
    notification_deliver,
    notifications_enqueue_on_commit,
    notifications_publish,
    notifications_retry_due,
)
from escalations.tasks import deliver_notification, retry_notifications
from tests.engine_support import free_port, point_celery_at, receiver_fixture, verify_signature  # noqa: F401

S = timedelta(seconds=1)


@pytest.fixture
def case(make_incident):
    return make_incident()


@pytest.fixture(autouse=True)
def _local_receiver_allowed(settings):
    # The receiver listens on loopback, which webhooks reach only when allowed by name
    # (tests/integration/test_webhooks.py covers the refusal).
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def _row(case, now, channel=NotificationChannel.WEBHOOK, address="", user=None, key="t:1"):
    if channel == NotificationChannel.WEBHOOK and address:
        # Deliveries are signed with the secret of the team using the URL.
        Team.objects.get_or_create(
            webhook_url=address, defaults={"name": f"Hook {key}", "slug": f"hook-{key}".replace(":", "-")}
        )
    row = notification_build(
        incident=case, recipient=Recipient(channel, user.pk if user else None, address, "x"), kind="escalation",
        key=key, subject="Escalation L1: S2 case", text="Checkout failing — escalated", now=now,
    )  # fmt: skip
    row.save()
    return row


def _deliver(row, at):
    return notification_deliver(notification_id=row.pk, now=at, actor=system_user())


def test_webhook_is_signed_slack_compatible_and_carries_the_idempotency_key(case, now, receiver):
    row = _row(case, now, address=receiver.url)
    assert _deliver(row, now) == "sent"
    [request] = receiver.requests
    assert verify_signature(request, Team.objects.get(webhook_url=receiver.url).webhook_secret)
    assert request["headers"]["webhook-id"] == row.idempotency_key
    assert request["headers"]["webhook-timestamp"] == str(int(now.timestamp()))
    assert request["headers"]["x-idempotency-key"] == row.idempotency_key
    assert request["headers"]["content-type"] == "application/json"
    body = json.loads(request["body"])
    assert body["text"] == "Checkout failing — escalated"  # what Slack shows
    assert body["incident"]["reference"] == case.reference
    assert body["links"]["acknowledge"].endswith(f"/cases/{case.pk}/acknowledge/")
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at) == (NotificationStatus.SENT, 1, now)
    assert row.history.latest().history_user == system_user()
    # A repeated task (redelivery, retry pass racing) sends nothing more.
    assert _deliver(row, now + S) == "skipped"
    assert len(receiver.requests) == 1


def test_failures_back_off_exponentially_then_mark_the_row_failed(case, now, receiver, settings):
    settings.NOTIFICATION_BACKOFF_BASE_SECONDS = 10
    settings.NOTIFICATION_BACKOFF_MAX_SECONDS = 35
    receiver.status = 503
    row = _row(case, now, address=receiver.url)
    at = now
    waits = []
    for attempt in range(1, row.max_attempts + 1):
        outcome = _deliver(row, at)
        row.refresh_from_db()
        assert row.attempts == attempt and "HTTP 503" in row.last_error and "down" not in row.last_error
        if attempt < row.max_attempts:
            assert outcome == "retry" and row.status == NotificationStatus.PENDING
            waits.append((row.next_attempt_at - at).total_seconds())
            # Not due yet: a stray early task does not shorten the backoff.
            assert _deliver(row, at + S) == "skipped"
            at = row.next_attempt_at
        else:
            assert outcome == "failed"
    assert waits == [10, 20, 35, 35, 35]
    assert row.status == NotificationStatus.FAILED and row.next_attempt_at is None
    assert len(receiver.requests) == row.max_attempts
    assert _deliver(row, at + timedelta(hours=1)) == "skipped"


def test_receiver_down_then_back_delivers_once(case, now, receiver):
    receiver.status = 500
    row = _row(case, now, address=receiver.url)
    assert _deliver(row, now) == "retry"
    receiver.status = 200
    row.refresh_from_db()
    assert notifications_retry_due(now=row.next_attempt_at - S) == []
    assert notifications_retry_due(now=row.next_attempt_at) == [row.pk]
    assert _deliver(row, row.next_attempt_at) == "sent"
    assert len(receiver.accepted()) == 1


def test_the_retry_pass_publishes_a_never_attempted_row_once_per_lease(case, now, receiver, settings):
    """After a broker outage many rows are due at once: a row whose publish was lost is
    leased when the pass takes it, so the next passes do not queue it again; a row whose
    delivery failed keeps its own backoff and is due again at once."""
    settings.NOTIFICATION_RETRY_LEASE_SECONDS = 60
    lost = _row(case, now, address=receiver.url)
    receiver.status = 500
    failed = _row(case, now, address=receiver.url, key="t:2")
    assert _deliver(failed, now) == "retry"
    failed.refresh_from_db()
    at = max(lost.next_attempt_at, failed.next_attempt_at)
    assert sorted(notifications_retry_due(now=at)) == sorted([lost.pk, failed.pk])
    assert notifications_retry_due(now=at + S) == [failed.pk]  # the lost row is leased
    lost.refresh_from_db()
    assert lost.next_attempt_at == at + timedelta(seconds=60)
    assert lost.history.latest().history_user == system_user()
    receiver.status = 200
    assert _deliver(lost, at + S) == "sent"  # the queued delivery is not refused by its lease


def test_unreachable_webhook_is_an_error_on_the_row(case, now, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    row = _row(case, now, address=f"http://127.0.0.1:{free_port()}/nobody-listens")
    assert _deliver(row, now) == "retry"
    row.refresh_from_db()
    assert "could not connect to 127.0.0.1" in row.last_error


def test_email_goes_through_the_django_backend_with_the_ack_link(case, now, duty_manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = _row(case, now, channel=NotificationChannel.EMAIL, address="dana@example.com", user=duty_manager)
    assert _deliver(row, now) == "sent"
    [message] = mail.outbox
    assert message.to == ["dana@example.com"] and message.subject == "Escalation L1: S2 case"
    assert f"/cases/{case.pk}/acknowledge/" in message.body
    assert message.extra_headers["X-Idempotency-Key"] == row.idempotency_key


def test_in_app_is_sent_by_being_in_the_inbox(case, now, duty_manager, django_capture_on_commit_callbacks):
    """The row is the in-app notice: written delivered, nothing to publish or retry."""
    with django_capture_on_commit_callbacks() as callbacks:
        row = _row(case, now, channel=NotificationChannel.IN_APP, user=duty_manager)
        notifications_enqueue_on_commit([row])
    assert callbacks == []
    assert row.status == NotificationStatus.SENT and row.sent_at == now and row.attempts == 1
    assert _deliver(row, now) == "skipped"  # a stray task changes nothing
    assert notifications_retry_due(now=now + timedelta(days=1)) == []


def test_first_retry_picks_up_rows_whose_publish_was_lost(case, now, settings):
    row = _row(case, now, channel=NotificationChannel.EMAIL, address="dana@example.com")
    first = timedelta(seconds=settings.NOTIFICATION_FIRST_RETRY_SECONDS)
    assert notifications_retry_due(now=now + first - S) == []
    assert notifications_retry_due(now=now + first) == [row.pk]


def test_backoff_is_capped():
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff_seconds(50) == 3600


def test_publishing_with_the_broker_down_never_raises_or_hangs(case, now):
    from config.celery import app

    previous = app.conf.broker_url
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        rows = [_row(case, now, key=f"down:{i}") for i in range(5)]
        started = time.monotonic()
        assert notifications_publish([r.pk for r in rows]) == 0
        assert time.monotonic() - started < 10
        # The retry task is a door onto the same publisher: it does not raise either.
        assert retry_notifications.run() == 0  # every row is due (T0 is in the past): all fail to publish
    finally:
        point_celery_at(previous)


def test_tasks_take_ids_and_are_named_stably(case, now, receiver):
    row = _row(case, now, address=receiver.url)
    assert deliver_notification.name == "escalations.deliver_notification"
    assert deliver_notification.run(row.pk) == "sent"
    assert Notification.objects.get(pk=row.pk).status == NotificationStatus.SENT
