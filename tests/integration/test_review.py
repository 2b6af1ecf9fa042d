"""escalations.reporting.review and the weekly review page: every figure against a hand-computed
fixture (pauses, a reopen, a severity change, a business-hours case, a drill that never
counts), and the page's query count, constant in the number of cases.

The fixture (tests/review_support.py), in ISO week 2026-W47 (Mon 16 Nov – Mon 23 Nov, UTC; London is on UTC then):

- A, S2 (24x7): opened Mon 10:00, acknowledged 10:10 (TTA 600 s, met), customer update
  10:20 (on time), paused 10:30–11:30, triage → command at 12:00, resolved 13:00 (cycle 1:
  3 h − 1 h paused = 7,200 s, met); reopened Tue 10:00, resolved 11:00 (cycle 2: 3,600 s).
  Two handoffs (hand-built): Mon 11:00 alice → bob accepted after 5 min; Mon 12:00 bob →
  alice accepted after 15 min (ping-pong: back to the person it left).
- B, S3 on business hours (Mon–Fri 09:00–17:00 London): opened Wed 16:00, acknowledged
  Thu 10:00 (TTA 1 h Wed + 1 h Thu = 7,200 s, met); customer sentiment negative; open.
- C, opened Thu 09:00 as S3, raised to S2 by a person at 09:20 (a severity override),
  acknowledged 09:45 (TTA 2,700 s, over S2's 30 min: missed); an acknowledge breach and an
  update breach (cause: team at capacity); a customer update at 11:00 (late); open.
- E, S2 ($100,000 ARR at risk): opened Fri 10:00, never acknowledged: an acknowledge breach
  (nobody owned it) and an update breach (team at capacity), both unmet at the week's end;
  an executive escalation at 12:00 by the Manager; open.
- F, S2 ($60,000) in the week before (W46): acknowledged after 300 s; open.
- D, a drill S2 with everything (acknowledged, breach, executive escalation, resolved):
  never counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import BreachCause, ClockKind, Sentiment, Stage
from escalations.models import CustomerUpdate, Escalation, Incident, ReviewWeek
from escalations.reporting.review import ALL, Percentile, last_complete_week, review_figures, review_weeks
from escalations.services import incident_acknowledge
from tests.review_support import LAST, WEEK, H, M, at, breach, build_week_of_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def week_of_cases(make_incident, agent, other_agent, manager):
    return build_week_of_cases(make_incident, agent, other_agent, manager)


def test_the_fixture_is_what_the_docstring_says(week_of_cases):
    c = week_of_cases["c"]
    assert Incident.objects.get(pk=week_of_cases["b"].pk).severity == "S3"
    assert Incident.objects.get(pk=c.pk).severity == "S2"
    assert list(CustomerUpdate.objects.filter(incident=c).values_list("was_late", flat=True)) == [True]
    assert list(CustomerUpdate.objects.filter(incident=week_of_cases["a"]).values_list("was_late", flat=True)) == [
        False
    ]


def test_review_weeks_are_the_chosen_week_and_the_twelve_before():
    weeks = review_weeks(last_complete_week(datetime(2026, 11, 25, tzinfo=UTC)))
    assert [weeks[0].label, weeks[-1].label, len(weeks)] == ["2026-W35", WEEK, 13]
    # Monday 00:00 already belongs to the new week: the last complete one is the week before.
    assert last_complete_week(datetime(2026, 11, 23, tzinfo=UTC)).label == WEEK
    assert last_complete_week(datetime(2027, 1, 4, 12, tzinfo=UTC)).label == "2026-W53"


def test_time_to_acknowledge_counts_clock_time(week_of_cases):
    fig = review_figures(WEEK)
    assert fig.labels[-1] == WEEK and fig.labels[-2] == "2026-W46"
    tta = fig.tta[ALL]
    # [600 (A), 2,700 (C), 7,200 (B, business hours)]: p90 = 2,700 + 0.8 × 4,500.
    assert (tta.count[LAST], tta.median[LAST], tta.p90[LAST]) == (3, 2700, 6300)
    # C counts under S2, its severity now: [600, 2,700] → p90 = 600 + 0.9 × 2,100.
    assert (fig.tta["S2"].count[LAST], fig.tta["S2"].median[LAST], fig.tta["S2"].p90[LAST]) == (2, 1650, 2490)
    assert (fig.tta["S3"].count[LAST], fig.tta["S3"].median[LAST]) == (1, 7200)
    assert (fig.tta["S1"].count[LAST], fig.tta["S1"].median[LAST]) == (0, None)
    assert (tta.count[LAST - 1], tta.median[LAST - 1]) == (1, 300)
    assert tta.count[: LAST - 1] == [0] * 11


def test_time_to_resolve_per_cycle_without_paused_time(week_of_cases):
    ttr = review_figures(WEEK).ttr[ALL]
    # A's cycles: 7,200 s (3 h, 1 h paused) and 3,600 s; the drill's never counts.
    assert (ttr.count[LAST], ttr.median[LAST], ttr.p90[LAST]) == (2, 5400, 6840)


def test_adherence_a_breach_always_lowers_it(week_of_cases):
    fig = review_figures(WEEK)
    # Acknowledge: A and B met, C missed, E's breach unmet at the week's end → 2 / 4.
    assert fig.adherence["ack"][ALL][LAST] == 50.0
    assert fig.adherence["ack"]["S2"][LAST] == 33.3
    assert fig.adherence["ack"]["S3"][LAST] == 100.0
    assert fig.adherence["ack"]["S1"][LAST] is None
    # Resolve: both of A's cycles met, no resolve breach.
    assert fig.adherence["resolve"][ALL][LAST] == 100.0
    # Update: A's on time, C's late, E's breach with no update → 1 / 3.
    assert fig.adherence["update"][ALL][LAST] == 33.3
    assert (fig.updates_posted[ALL][LAST], fig.updates_late[ALL][LAST]) == (2, 1)
    assert fig.adherence["ack"][ALL][LAST - 1] == 100.0


def test_breaches_by_clock_and_the_cause_pareto(week_of_cases):
    fig = review_figures(WEEK)
    assert fig.breaches[ALL]["total"][LAST] == 4
    assert fig.breaches[ALL][ClockKind.ACK][LAST] == 2
    assert fig.breaches[ALL][ClockKind.UPDATE][LAST] == 2
    assert fig.breaches["S3"]["total"][LAST] == 0
    assert [(r["key"], r["count"], r["cumulative_pct"]) for r in fig.pareto_causes] == [
        (BreachCause.CAPACITY, 3, 75.0),
        (BreachCause.UNASSIGNED, 1, 100.0),
    ]
    assert [(r["key"], r["count"], r["cumulative_pct"]) for r in fig.pareto_clocks] == [
        (ClockKind.ACK, 2, 50.0),
        (ClockKind.UPDATE, 2, 100.0),
    ]


def test_reopens_handoffs_ping_pong_and_time_to_accept(week_of_cases):
    fig = review_figures(WEEK)
    assert fig.reopens[ALL][LAST] == 1
    assert fig.reopen_rate[ALL][LAST] == 0.5  # 1 reopen ÷ 2 cycles ended
    assert fig.handoffs_offered[ALL][LAST] == 2
    assert fig.handoffs_per_case[ALL][LAST] == 2.0  # A, resolved in the week, had 2
    assert fig.handoffs_per_case["S3"][LAST] is None
    assert fig.ping_pong[ALL][LAST] == 1
    assert fig.ping_pong_rate[ALL][LAST] == 50.0
    accept = fig.time_to_accept[ALL]
    assert (accept.count[LAST], accept.median[LAST], accept.p90[LAST]) == (2, 600, 840)


def test_stage_ownership_from_entry_to_exit(week_of_cases):
    stages = review_figures(WEEK).stage_ownership
    # A: triage 10:00–12:00; command 12:00–13:00, then reopened 10:00–11:00 (still command).
    assert (stages[Stage.TRIAGE].count[LAST], stages[Stage.TRIAGE].median[LAST]) == (1, 7200)
    command = stages[Stage.COMMAND]
    assert (command.count[LAST], command.median[LAST], command.p90[LAST]) == (2, 3600, 3600)
    assert stages[Stage.FIX].count[LAST] == 0
    # The week before: F never left triage.
    assert stages[Stage.TRIAGE].count[LAST - 1] == 0


def test_open_cases_arr_sentiment_and_escape_valves(week_of_cases, manager, agent):
    fig = review_figures(WEEK)
    # Open at the week's end: B, C, E and F (from the week before, never resolved); A was
    # resolved, D is a drill. ARR at risk: E's $100,000 and F's $60,000.
    assert fig.open_at_end[ALL] == {"cases": 4, "arr": Decimal("160000.00")}
    assert fig.open_at_end["S2"] == {"cases": 3, "arr": Decimal("160000.00")}
    assert fig.open_at_end["S3"] == {"cases": 1, "arr": Decimal("0.00")}
    assert fig.sentiment_at_end[Sentiment.NEGATIVE] == 1
    assert fig.sentiment_at_end[Sentiment.UNKNOWN] == 3
    assert fig.executive_per_week[ALL][LAST] == 1
    [executive] = fig.executive_escalations
    assert (executive.incident_id, executive.actor, executive.reason) == (
        week_of_cases["e"].pk,
        manager,
        "Executive sponsor asked",
    )
    [override] = fig.severity_overrides
    assert (override.incident_id, override.actor, override.at) == (week_of_cases["c"].pk, agent, at(3, 9, 20))
    assert fig.manual_severity_per_week[ALL][LAST] == 1
    assert fig.manual_severity_per_week["S2"][LAST] == 1


def test_percentile_is_postgresqls_percentile_cont(week_of_cases):
    from escalations.models import ResolveCycle

    values = ResolveCycle.objects.filter(incident__is_drill=False).aggregate(p=Percentile("elapsed_seconds", 0.25))
    assert values["p"] == 3600 + 0.25 * 3600
    with pytest.raises(ValueError):
        Percentile("elapsed_seconds", 1.5)


def test_the_page_shows_each_figure_with_labels(client, manager, week_of_cases):
    client.force_login(manager)
    response = client.get(reverse("escalations:manage-review"), {"week": WEEK})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Weekly review: 2026-W47" in body
    assert 'id="review-data" type="application/json"' in body and "<script>" not in body  # no inline script
    assert "Team at capacity" in body and "Executive sponsor asked" in body and "Customer escalated" in body
    assert "45m 00s" in body  # TTA median as a duration
    assert "160,000.00" in body
    assert response.context["chart_data"]["tta_p50"][LAST] == 45.0


def test_a_bad_week_names_the_field_and_falls_back(client, manager):
    client.force_login(manager)
    response = client.get(reverse("escalations:manage-review"), {"week": "2026-W99"})
    assert response.status_code == 200
    assert "Week: 2026-W99 is not a week of 2026." in response.content.decode()
    assert response.context["week"] == last_complete_week()


def _page_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("escalations:manage-review"), {"week": WEEK}).status_code == 200
    return len(ctx.captured_queries)


# Session, user, profile (time zone), permissions; the review's transaction (here a
# savepoint and its release) with JIT off; the kept weeks; the chosen week's Pareto, open
# cases and four escape-valve lists; the RCAs and action items overdue now. Computing the
# weeks not kept yet adds the families' queries (events, cycles, updates, breaches,
# handoffs, times to accept, handoffs per case, stage ownership, executive escalations)
# and the four that keep them (delete, insert, the inserted rows read back, their history).
REVIEW_PAGE_QUERIES = 16
REVIEW_PAGE_QUERIES_COLD = REVIEW_PAGE_QUERIES + 9 + 4


def test_the_page_query_count_is_constant_in_the_number_of_cases(
    client, manager, make_incident, agent, django_assert_num_queries
):
    client.force_login(manager)
    for n in (1, 8):
        while Incident.objects.count() < n:
            case = make_incident(
                title=f"Case {Incident.objects.count()}", now=at(0, 10) - 7 * H * Incident.objects.count()
            )
            incident_acknowledge(incident=case, actor=agent, now=case.reported_at + 3 * M)
            breach(case, ClockKind.UPDATE, due_at=case.reported_at + H, cause=BreachCause.OTHER)
            Escalation.objects.create(
                incident=case, level=5, reason="Asked", created_at=case.reported_at + H, actor=agent, is_executive=True
            )
        ReviewWeek.objects.all().delete()
        with django_assert_num_queries(REVIEW_PAGE_QUERIES_COLD):
            client.get(reverse("escalations:manage-review"), {"week": WEEK})
        with django_assert_num_queries(REVIEW_PAGE_QUERIES):
            client.get(reverse("escalations:manage-review"), {"week": WEEK})
    assert _page_queries(client) == REVIEW_PAGE_QUERIES


def test_a_complete_week_is_kept_and_the_current_week_is_not(week_of_cases, agent):
    friday = at(4, 18)  # inside 2026-W47: that week is not complete yet
    fig = review_figures(WEEK, now=friday)
    assert fig.tta[ALL].count[LAST] == 3
    assert ReviewWeek.objects.filter(week_start=at(0, 0)).count() == 0
    assert ReviewWeek.objects.filter(week_start=at(-7, 0)).count() == 1
    # Once W47 is over it is kept: a later view reads the kept figures, and deleting the
    # row makes the next view compute the week again.
    after = at(7, 0)
    assert review_figures(WEEK, now=after).tta[ALL].count[LAST] == 3
    kept = ReviewWeek.objects.get(week_start=at(0, 0))
    kept.figures["tta"][ALL]["count"] = 99
    kept.save(update_fields=["figures"])
    assert review_figures(WEEK, now=after).tta[ALL].count[LAST] == 99
    ReviewWeek.objects.filter(week_start=at(0, 0)).delete()
    assert review_figures(WEEK, now=after).tta[ALL].count[LAST] == 3


def test_the_beat_keeps_the_complete_weeks_so_no_view_computes_them(week_of_cases, client, manager):
    from config.beat import BEAT_SCHEDULE
    from escalations.services.review_weeks import review_weeks_keep
    from escalations.tasks import keep_review_weeks

    assert BEAT_SCHEDULE["keep-review-weeks"]["task"] == keep_review_weeks.name
    monday = at(7, 0, 30)  # just after 2026-W47 ended
    assert review_weeks_keep(now=monday) == 13
    assert ReviewWeek.objects.count() == 13
    assert ReviewWeek.objects.get(week_start=at(0, 0)).figures["tta"][ALL]["count"] == 3
    assert review_weeks_keep(now=monday) == 0
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("escalations:manage-review"), {"week": WEEK})
    assert len(ctx.captured_queries) == REVIEW_PAGE_QUERIES


def test_the_escape_valves_asked_for_with_who_why_and_the_answer(week_of_cases, client, agent, manager):
    from escalations.choices import ValveStatus
    from escalations.models import ExecutiveEscalationRequest, ServiceCreditRequest

    e, d = week_of_cases["e"], week_of_cases["d"]
    ExecutiveEscalationRequest.objects.create(
        incident=e, reason="Customer's CEO called", requested_by=agent, requested_at=at(4, 11)
    )
    ServiceCreditRequest.objects.create(
        incident=e, breached_seconds=3600, eligible_amount=Decimal("500.00"), amount=Decimal("300.00"),
        justification="Two breaches", requested_by=agent, requested_at=at(4, 13), status=ValveStatus.APPROVED,
        decided_by=manager, decided_at=at(4, 14), decision_reason="Per the contract",
    )  # fmt: skip
    ServiceCreditRequest.objects.create(
        incident=e, breached_seconds=3600, eligible_amount=Decimal("500.00"), amount=Decimal("100.00"),
        justification="Goodwill", requested_by=agent, requested_at=at(4, 15),
    )  # fmt: skip
    ServiceCreditRequest.objects.create(
        incident=d, breached_seconds=60, eligible_amount=Decimal("50.00"), amount=Decimal("50.00"),
        justification="Drill", requested_by=manager, requested_at=at(0, 9, 30),
    )  # fmt: skip
    fig = review_figures(WEEK)
    [asked] = fig.executive_requests
    assert (asked.requested_by, asked.reason, asked.status) == (agent, "Customer's CEO called", ValveStatus.PENDING)
    assert [r.amount for r in fig.credit_requests] == [Decimal("300.00"), Decimal("100.00")]  # the drill's never
    assert (fig.credits_asked, fig.credits_approved) == (Decimal("400.00"), Decimal("300.00"))
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-review"), {"week": WEEK}).content.decode()
    assert "Customer&#x27;s CEO called" in body and "Waiting for a Manager" in body
    assert "Per the contract" in body and "400.00 / 300.00" in body


def test_overdue_rcas_and_action_items_are_on_the_review_page(client, manager, make_incident, agent):
    from datetime import date

    from django.utils import timezone

    from escalations.models import Postmortem, PostmortemActionItem

    case = make_incident(title="Payments <down>")
    late = Postmortem.objects.create(
        incident=case, author=agent, summary="Gateway", due_at=timezone.now() - timedelta(days=2)
    )
    PostmortemActionItem.objects.create(
        postmortem=late, description="Alert on EU routes", owner=agent, due_date=date(2020, 1, 6)
    )
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-review")).content.decode()
    overdue = body.split('id="overdue"', 1)[1].split('id="definitions"', 1)[0]
    assert case.reference in overdue and "Payments &lt;down&gt;" in overdue
    assert "Alert on EU routes" in overdue
