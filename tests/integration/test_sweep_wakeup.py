"""Waking the sweep at the next deadline (issue 3 latency): which instant is chosen, when
none is, the once-per-instant claim, and the task that records and enqueues it. On the
real database; the enqueue test publishes to a private redis-server and reads the
message back from the ``engine`` queue."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from escalations.models import Incident, SweepHeartbeat
from escalations.services import handoff_offer, incident_acknowledge, incident_pause
from escalations.services.engine.sweep import sweep_run
from escalations.services.engine.wakeup import (
    WAKEUP_TICK,
    sweep_next_check_after,
    sweep_wakeup_claim,
    sweep_wakeup_release,
)
from escalations.tasks import sweep_breaches
from tests.engine_support import private_redis_fixture  # noqa: F401

S = timedelta(seconds=1)
M = timedelta(minutes=1)
HORIZON = 11 * S  # the default: one 10 s beat interval plus the 1 s margin


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _due(incident) -> datetime:
    incident.refresh_from_db()
    return incident.next_check_at


def test_the_earliest_deadline_within_the_interval_is_chosen_rounded_up(make_incident, now, team):
    # Off the 100 ms grid on purpose: the wake-up must not come before the deadline.
    first = make_incident(team=team, reported_at=now - 10 * M + timedelta(microseconds=123_456))
    make_incident(team=team, reported_at=now - 10 * M + 3 * S)  # due 3 s later
    make_incident(team=team, reported_at=now - 12 * M)  # due 2 min earlier: not after now
    deadline = _due(first)
    before = deadline - 4 * S

    at = sweep_wakeup_claim(now=before, horizon=HORIZON)

    assert at is not None and deadline <= at < deadline + WAKEUP_TICK
    assert at == deadline.replace(microsecond=200_000)
    assert sweep_next_check_after(now=before, until=before + HORIZON) == deadline


def test_nothing_due_within_the_interval_schedules_nothing(make_incident, now, team):
    incident = make_incident(team=team)
    deadline = _due(incident)
    assert sweep_wakeup_claim(now=deadline - HORIZON - S, horizon=HORIZON) is None
    # Nothing was claimed by the empty answer: one second later the deadline is in reach.
    assert sweep_wakeup_claim(now=deadline - HORIZON + S, horizon=HORIZON) is not None


def test_only_deadlines_strictly_after_now(make_incident, now, team):
    # A wake-up sweeps at its instant and asks again: its own instant must not come back,
    # or it would wake itself again and again.
    first = make_incident(team=team)
    second = make_incident(team=team, reported_at=now + 2 * S)
    at = _due(first)
    assert sweep_next_check_after(now=at, until=at + HORIZON) == _due(second)
    assert sweep_wakeup_claim(now=_due(second), horizon=HORIZON) is None


def test_a_handoff_acceptance_deadline_wakes_the_sweep_too(make_incident, now, agent, other_agent, team):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    packet = handoff_offer(
        incident=incident,
        actor=agent,
        now=now + 2 * M,
        to_stage="triage",
        to_user=other_agent,
        summary="Checkout failing",
        customer_impact="EU users cannot pay",
        next_steps="Roll back",
    )
    box = packet.accept_due_at
    assert box < _due(incident)  # the case's own next check comes later
    assert sweep_next_check_after(now=box - 5 * S, until=box - 5 * S + HORIZON) == box
    assert sweep_wakeup_claim(now=box - 5 * S, horizon=HORIZON) == box


def test_frozen_and_closed_cases_never_wake_the_sweep(make_incident, now, agent, team):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    warn = _due(incident)
    incident_pause(incident=incident, reason="customer", note="Waiting for logs", actor=agent, now=now + 2 * M)
    assert _due(incident) is None  # frozen: its deadlines are NULL until it resumes
    assert sweep_wakeup_claim(now=warn - 5 * S, horizon=HORIZON) is None


def test_each_instant_is_claimed_once(make_incident, now, team):
    first = make_incident(team=team)
    second = make_incident(team=team, reported_at=now + 5 * S)
    deadline = _due(first)

    at = sweep_wakeup_claim(now=deadline - 5 * S, horizon=HORIZON)
    assert at == deadline
    # The next beat, or a second worker, sees the same next deadline: nothing more.
    assert sweep_wakeup_claim(now=deadline - 5 * S, horizon=HORIZON) is None
    assert sweep_wakeup_claim(now=deadline - 2 * S, horizon=HORIZON) is None
    # The wake-up itself, sweeping at its instant, claims the next one: the chain moves on.
    assert sweep_wakeup_claim(now=deadline, horizon=HORIZON) == _due(second)
    # A claim given back (the enqueue failed) can be taken again.
    sweep_wakeup_release(at)
    assert sweep_wakeup_claim(now=deadline - S, horizon=HORIZON) == at


def test_two_deadlines_in_one_tick_share_one_wakeup(make_incident, now, team):
    first = make_incident(team=team, reported_at=now + timedelta(milliseconds=10))
    second = make_incident(team=team, reported_at=now + timedelta(milliseconds=60))
    at = sweep_wakeup_claim(now=_due(first) - S, horizon=HORIZON)
    assert at == _due(first).replace(microsecond=100_000) and at >= _due(second)
    assert sweep_wakeup_claim(now=_due(first), horizon=HORIZON) is None  # second is in the same tick


def test_next_deadline_is_one_probe_of_the_sweep_index(make_incident, now, team):
    make_incident(team=team)
    query = Incident.objects.filter(next_check_at__gt=now, next_check_at__lte=now + HORIZON).order_by("next_check_at")
    sql, params = query.values_list("next_check_at", flat=True)[:1].query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the test table is tiny
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "incident_sweep_idx" in plan and "Sort" not in plan, plan


# --- The task --------------------------------------------------------------------------


def _soon_due(make_incident, team, *, lead: timedelta) -> tuple[Incident, datetime]:
    """A case whose acknowledge deadline (S2: 30 min) is ``lead`` from the real now."""
    real_now = timezone.now()
    incident = make_incident(team=team, now=real_now, reported_at=real_now - 30 * M + lead)
    sweep_run(now=timezone.now(), source="test")  # its 75 % warning is past: out of the way
    return incident, _due(incident)


def test_task_with_wakeups_off_only_sweeps(make_incident, team, settings):
    settings.SWEEP_WAKEUP = False
    _, deadline = _soon_due(make_incident, team, lead=5 * S)

    sweep_breaches.run()

    assert SweepHeartbeat.objects.latest("finished_at").source == "beat"
    assert sweep_wakeup_claim(now=timezone.now()) is not None  # the task claimed nothing


def test_a_wakeup_records_its_source(team, settings):
    settings.SWEEP_WAKEUP = False
    sweep_breaches.run(wake_at=(timezone.now() - S).isoformat())
    assert SweepHeartbeat.objects.latest("finished_at").source == "wakeup"


def test_task_enqueues_one_wakeup_at_the_next_deadline_on_the_engine_queue(make_incident, team, private_redis):
    import redis

    _, deadline = _soon_due(make_incident, team, lead=6 * S)
    broker = redis.Redis.from_url(private_redis.url)

    sweep_breaches.run()
    sweep_breaches.run()  # the next beat sees the same deadline: no second wake-up

    assert SweepHeartbeat.objects.latest("finished_at").source == "beat"
    assert broker.llen("celery") == 0
    [raw] = broker.lrange("engine", 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["task"] == "escalations.sweep_breaches"
    eta = datetime.fromisoformat(headers["eta"]).astimezone(UTC)
    assert deadline <= eta < deadline + WAKEUP_TICK
    assert datetime.fromisoformat(headers["expires"]).astimezone(UTC) == eta + 10 * S
    body = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert body[1] == {"wake_at": eta.isoformat()}
