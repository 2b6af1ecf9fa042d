"""Breaches, policies and the weekly metrics through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.choices import BreachCause
from escalations.models import Breach, Escalation, SeverityPolicy
from escalations.services import (
    customer_update_post,
    handoff_offer,
    handoff_reject,
    incident_acknowledge,
    incident_reopen,
    incident_resolve,
    system_user,
)
from escalations.services.review_weeks import review_weeks_keep
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock, row_counts

# Just after 2026-W47 (T0's week) ended, when the beat keeps it.
AFTER_W47 = T0 + timedelta(days=2, hours=14, seconds=30)

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db


def breach(incident, kind: str, *, at, cause: str | None = None, cycle: int = 1) -> Breach:
    # The sweep (another door) records breaches; here the row is what matters. A cause
    # given is a confirmed one (by the system user, at detection).
    confirmed = {"cause_id": cause, "cause_confirmed_at": at, "cause_confirmed_by": system_user()} if cause else {}
    return Breach.objects.create(
        incident=incident, kind=kind, cycle=cycle, severity=incident.severity, due_at=at, detected_at=at, **confirmed
    )


# --- breaches -----------------------------------------------------------------------------


def test_breaches_list_and_filters(agent, make_incident, clock):
    one, two = make_incident(), make_incident()
    breach(one, "ack", at=T0)
    breach(one, "resolve", at=T0 + timedelta(hours=1))
    breach(two, "ack", at=T0 + timedelta(hours=2))
    client = client_for(agent)
    body = client.get("/api/v1/breaches/").json()
    assert body["count"] == 3 and body["results"][0]["incident"] == two.pk  # newest first
    # Not reviewed yet: "unknown", as the weekly metrics key it.
    assert body["results"][0]["cause"] == "unknown" and body["results"][0]["cause_confirmed_by"] is None
    assert {b["kind"] for b in client.get("/api/v1/breaches/", {"incident": one.pk}).json()["results"]} == {
        "ack",
        "resolve",
    }
    assert [b["incident"] for b in client.get("/api/v1/breaches/", {"kind": "ack"}).json()["results"]] == [
        two.pk,
        one.pk,
    ]
    assert_error(client.get("/api/v1/breaches/", {"kind": "lunch"}), 400, field="kind")
    assert_error(client.get("/api/v1/breaches/", {"incident": "x"}), 400, field="incident")


def test_breaches_query_count_is_constant(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    breach(incident, "ack", at=T0)
    client.get("/api/v1/breaches/")
    with CaptureQueriesContext(connection) as first:
        client.get("/api/v1/breaches/")
    breach(incident, "resolve", at=T0)
    breach(incident, "update", at=T0)
    with CaptureQueriesContext(connection) as second:
        client.get("/api/v1/breaches/")
    assert len(first.captured_queries) == len(second.captured_queries)


# --- policies -----------------------------------------------------------------------------


def test_policies_list_and_detail(agent):
    client = client_for(agent)
    policies = client.get("/api/v1/policies/").json()
    assert [p["key"] for p in policies] == ["S1", "S2", "S3", "S4"]
    assert policies[0]["ack_target_seconds"] == 300 and policies[0]["resolve_target_seconds"] == 7200
    assert client.get("/api/v1/policies/S2/").json()["update_cadence_seconds"] == 3600
    assert_error(client.get("/api/v1/policies/S9/"), 404)


def test_policy_admin_edits_a_policy_with_history(policy_admin, make_incident, clock):
    case = make_incident()  # S2, 30-minute TTA snapshotted
    response = client_for(policy_admin).patch(
        "/api/v1/policies/S2/", {"ack_target_seconds": 900, "review_by": "2027-03-31"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["ack_target_seconds"] == 900
    policy = SeverityPolicy.objects.get(key="S2")
    assert policy.ack_target == timedelta(minutes=15)
    assert policy.history.order_by("-history_id").first().history_user == policy_admin
    case.refresh_from_db()
    assert case.ack_target_seconds == 1800  # open cases keep their snapshot


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ack_target_seconds": 0}, "ack_target_seconds"),
        ({"warning_pct": 101}, "warning_pct"),
        ({"ack_target_seconds": 90000}, "ack_target_seconds"),  # longer than the resolve target
        ({"key": "S9"}, "key"),
        ({"calendar": 987654}, "calendar"),
        ({"review_by": "soon"}, "review_by"),
        ({"allows_executive_escalation": False}, "allows_executive_escalation"),
    ],
)
def test_policy_patch_refusals_change_nothing(policy_admin, payload, field):
    before = row_counts()
    key = "S1" if "allows_executive_escalation" in payload else "S2"
    assert_error(client_for(policy_admin).patch(f"/api/v1/policies/{key}/", payload, format="json"), 400, field=field)
    assert row_counts() == before


# --- weekly metrics -----------------------------------------------------------------------


def test_weekly_metrics(manager, duty_manager, agent, other_agent, make_incident, clock):
    # Week 2026-W47 is Monday 16 – Sunday 22 November; T0 is Friday 20 November.
    ack_fast = make_incident()  # S2: TTA target 30 min
    incident_acknowledge(incident=ack_fast, actor=agent, now=T0 + timedelta(minutes=10))
    ack_slow = make_incident()
    incident_acknowledge(incident=ack_slow, actor=agent, now=T0 + timedelta(minutes=50))
    s3 = make_incident(arr_at_risk=0)
    incident_acknowledge(incident=s3, actor=agent, now=T0 + timedelta(minutes=30))  # S3: 4 h target
    incident_resolve(incident=s3, resolution="ok", actor=agent, now=T0 + timedelta(hours=1))
    incident_reopen(incident=s3, reason="again", actor=agent, now=T0 + timedelta(hours=2))
    incident_resolve(incident=s3, resolution="ok", actor=agent, now=T0 + timedelta(hours=4))
    customer_update_post(incident=ack_fast, body="hi", channel=None, actor=agent, now=T0 + timedelta(minutes=20))
    customer_update_post(incident=ack_fast, body="late", channel=None, actor=agent, now=T0 + timedelta(hours=3))
    handoff = handoff_offer(
        incident=ack_slow,
        actor=agent,
        now=T0,
        to_stage="triage",
        to_user=other_agent,
        summary="s",
        customer_impact="c",
        next_steps="n",
    )
    handoff_reject(handoff=handoff, reason="no", actor=other_agent, now=T0 + timedelta(minutes=5))
    breach(ack_slow, "ack", at=T0 + timedelta(minutes=30), cause=BreachCause.CAPACITY)
    Escalation.objects.create(incident=ack_slow, level=5, reason="exec", created_at=T0, actor=agent, is_executive=True)
    drill = make_incident(is_drill=True, actor=duty_manager)
    incident_acknowledge(incident=drill, actor=agent, now=T0 + timedelta(hours=5))
    breach(drill, "ack", at=T0)
    make_incident(reported_at=T0 - timedelta(days=7))  # the previous week

    client = client_for(manager)
    # The week is not over: its figures come once it ends, from the beat.
    early = client.get("/api/v1/metrics/weekly/", {"week": "2026-W47"})
    assert_error(early, 503, code="week_in_progress")
    assert int(early["Retry-After"]) == 2 * 86400 + 14 * 3600 + 300  # Monday 00:00 UTC and the beat's next run
    clock.move_to(AFTER_W47)
    review_weeks_keep(now=AFTER_W47)
    client.get("/api/v1/metrics/weekly/", {"week": "2026-W47"})
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/metrics/weekly/", {"week": "2026-W47"})
    assert response.status_code == 200, response.content
    # Token and user; the kept week; the breach-cause list and counts.
    assert len(ctx.captured_queries) <= 6
    m = response.json()
    assert m["week"] == "2026-W47" and m["starts_at"] == "2026-11-16T00:00:00Z"
    assert m["cases_opened"] == 3 and m["cases_opened_by_severity"]["S2"] == 2
    assert m["tta"] == {"count": 3, "median_seconds": 1800, "p90_seconds": 2760}
    assert m["sla_adherence"]["acknowledge_pct"] == 66.7  # 10 min and 30 min met; 50 min on S2 missed
    # s3 (London business hours): 1 h then 2 h counted; two cycles, both met.
    assert m["ttr_cycle"]["count"] == 2 and m["ttr_cycle"]["median_seconds"] == 5400
    assert m["ttr_total"] == {"count": 1, "median_seconds": 10800, "p90_seconds": 10800}
    assert m["sla_adherence"]["resolve_pct"] == 100.0
    assert m["updates"] == {"posted": 2, "late": 1} and m["sla_adherence"]["update_pct"] == 50.0
    assert m["reopens"] == 1
    assert m["breaches"]["total"] == 1 and m["breaches"]["by_kind"]["ack"] == 1
    assert m["breaches"]["by_cause"]["capacity"] == 1 and m["breaches"]["by_cause"]["unknown"] == 0
    assert set(m["breaches"]["by_cause"]) == set(BreachCause.values)  # the shipped list and "unknown"
    assert m["handoffs"] == {"offered": 1, "accepted": 0, "rejected": 1, "ping_pong": 0}
    assert m["arr_at_risk_total"] == "120000.00"
    assert m["executive_escalations"] == 1
    assert m["sentiment"]["unknown"] == 3


def test_weekly_metrics_of_a_week_not_kept_yet_then_kept(manager, monkeypatch, clock):
    asked = []
    monkeypatch.setattr("escalations.api.views.reference.review_weeks_hurry", asked.append)
    client = client_for(manager)
    before = row_counts()
    for version in ("v1", "v2"):
        response = client.get(f"/api/{version}/metrics/weekly/", {"week": "2020-W01"})
        assert_error(response, 503, code="week_not_kept")
        assert response["Retry-After"] == "60"
    assert row_counts() == before  # nothing computed, nothing written
    assert [[w.label for w in weeks] for weeks in asked] == [["2020-W01"], ["2020-W01"]]
    review_weeks_keep(now=T0, asked=["2020-W01"])  # what the task asked for does
    m = client.get("/api/v1/metrics/weekly/", {"week": "2020-W01"}).json()
    assert m["cases_opened"] == 0 and m["tta"]["median_seconds"] is None
    assert m["sla_adherence"] == {"acknowledge_pct": None, "resolve_pct": None, "update_pct": None}
    opened = client.get("/api/v2/metrics/weekly/", {"week": "2020-W01"}).json()["severities"]["all"]["opened"]
    assert (opened["cases"], opened["arr_at_risk"], set(opened["sentiment"].values())) == (0, "0.00", {0})


@pytest.mark.parametrize("week", ["", "2026-47", "2026-W60", "2026-W00", "26-W01", "2026-W1", "2025-W53x"])
def test_weekly_metrics_bad_week_names_the_parameter(manager, week):
    assert_error(client_for(manager).get("/api/v1/metrics/weekly/", {"week": week}), 400, field="week")
    assert_error(client_for(manager).get("/api/v2/metrics/weekly/", {"week": week}), 400, field="week")


def test_weekly_metrics_week_is_required(manager):
    assert_error(client_for(manager).get("/api/v1/metrics/weekly/"), 400, field="week", code="required")


def test_a_breach_always_lowers_weekly_adherence(manager, agent, make_incident, clock):
    silent = make_incident()  # S2, never acknowledged, resolved or updated this week
    breach(silent, "ack", at=T0 + timedelta(minutes=30))
    breach(silent, "update", at=T0 + timedelta(minutes=60))
    breach(silent, "resolve", at=T0 + timedelta(hours=8))
    on_time = make_incident()
    incident_acknowledge(incident=on_time, actor=agent, now=T0 + timedelta(minutes=10))
    late_update = make_incident()
    breach(late_update, "update", at=T0 + timedelta(minutes=60))
    customer_update_post(incident=late_update, body="late", channel=None, actor=agent, now=T0 + timedelta(hours=2))
    review_weeks_keep(now=AFTER_W47)

    m = client_for(manager).get("/api/v1/metrics/weekly/", {"week": "2026-W47"}).json()
    assert m["breaches"]["total"] == 4
    # ack: one met of one acknowledgement + one case still unacknowledged → 50 %.
    assert m["sla_adherence"]["acknowledge_pct"] == 50.0
    # resolve: no cycle ended, one breached cycle still open → 0 %, not "nothing to measure".
    assert m["sla_adherence"]["resolve_pct"] == 0.0
    # update: the late update counts once (as late); the never-posted one counts as missed.
    assert m["updates"] == {"posted": 1, "late": 1} and m["sla_adherence"]["update_pct"] == 0.0
