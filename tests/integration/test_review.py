"""escalations.reporting and the weekly review page: every figure against a hand-computed
fixture (pauses, a reopen, a severity change, a business-hours case, a drill that never
counts) as the beat keeps it; the page's query count, constant in the number of cases and
the same whether the weeks are kept or not; and the states of a week not kept yet.

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
from escalations.display import person_name
from escalations.models import CustomerUpdate, Escalation, Incident, ReviewWeek
from escalations.reporting.aggregates import Percentile
from escalations.reporting.definitions import ALL, DEFINITIONS, KEEP_EVERY_SECONDS
from escalations.reporting.figures import WeekState, last_complete_week, review_figures, review_weeks
from escalations.services import incident_acknowledge
from tests.review_support import AFTER, LAST, WEEK, H, M, at, breach, build_week_of_cases, keep

pytestmark = pytest.mark.django_db


@pytest.fixture
def week_of_cases(make_incident, agent, other_agent, manager):
    cases = build_week_of_cases(make_incident, agent, other_agent, manager)
    assert keep() == 13  # the beat, just after the week ended
    return cases


def figures():
    return review_figures(WEEK, now=AFTER)


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


def test_cases_opened_with_their_arr_and_sentiment(week_of_cases):
    fig = figures()
    # A ($60,000), B (S3, negative), C (S3 → S2) and E ($100,000); F was the week before.
    assert fig.opened["cases"][ALL][LAST] == 4
    assert (fig.opened["cases"]["S2"][LAST], fig.opened["cases"]["S3"][LAST]) == (3, 1)
    assert fig.opened["arr_at_risk"][ALL][LAST] == Decimal("160000.00")
    assert fig.opened["sentiment"][ALL][Sentiment.NEGATIVE][LAST] == 1
    assert fig.opened["sentiment"]["S3"][Sentiment.NEGATIVE][LAST] == 1
    assert fig.opened["sentiment"][ALL][Sentiment.UNKNOWN][LAST] == 3
    assert (fig.opened["cases"][ALL][LAST - 1], fig.opened["arr_at_risk"][ALL][LAST - 1]) == (1, Decimal("60000.00"))


def test_time_to_acknowledge_counts_clock_time(week_of_cases):
    fig = figures()
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


def test_time_to_resolve_per_cycle_and_per_case(week_of_cases):
    fig = figures()
    ttr = fig.ttr_cycle[ALL]
    # A's cycles: 7,200 s (3 h, 1 h paused) and 3,600 s; the drill's never counts.
    assert (ttr.count[LAST], ttr.median[LAST], ttr.p90[LAST]) == (2, 5400, 6840)
    # Per case: A, resolved twice in the week, once, with both cycles.
    total = fig.ttr_total[ALL]
    assert (total.count[LAST], total.median[LAST], total.p90[LAST]) == (1, 10800, 10800)
    assert fig.ttr_total["S3"].count[LAST] == 0


def test_adherence_a_breach_always_lowers_it(week_of_cases):
    fig = figures()
    # Acknowledge: A and B met, C missed, E's breach unmet at the week's end → 2 / 4.
    assert fig.adherence[ALL]["ack"][LAST] == 50.0
    assert fig.adherence["S2"]["ack"][LAST] == 33.3
    assert fig.adherence["S3"]["ack"][LAST] == 100.0
    assert fig.adherence["S1"]["ack"][LAST] is None
    # Resolve: both of A's cycles met, no resolve breach.
    assert fig.adherence[ALL]["resolve"][LAST] == 100.0
    # Update: A's on time, C's late, E's breach with no update → 1 / 3.
    assert fig.adherence[ALL]["update"][LAST] == 33.3
    assert fig.updates[ALL] == {"posted": [0] * 12 + [2], "late": [0] * 12 + [1]}
    assert fig.adherence[ALL]["ack"][LAST - 1] == 100.0


def test_breaches_by_clock_and_the_cause_pareto(week_of_cases):
    fig = figures()
    assert fig.breaches[ALL]["total"][LAST] == 4
    assert fig.breaches[ALL][ClockKind.ACK][LAST] == 2
    assert fig.breaches[ALL][ClockKind.UPDATE][LAST] == 2
    assert fig.breaches["S3"]["total"][LAST] == 0
    assert [(r["key"], r["count"], r["cumulative_pct"]) for r in fig.causes.pareto] == [
        (BreachCause.CAPACITY, 3, 75.0),
        (BreachCause.UNASSIGNED, 1, 100.0),
    ]
    assert fig.causes.counts[BreachCause.CAPACITY] == 3 and fig.causes.counts[BreachCause.UNKNOWN] == 0
    assert [(r["key"], r["count"], r["cumulative_pct"]) for r in fig.pareto_clocks] == [
        (ClockKind.ACK, 2, 50.0),
        (ClockKind.UPDATE, 2, 100.0),
    ]


def test_reopens_handoffs_ping_pong_and_time_to_accept(week_of_cases):
    fig = figures()
    assert fig.reopens[ALL][LAST] == 1
    assert fig.reopen_rate[ALL][LAST] == 0.5  # 1 reopen ÷ 2 cycles ended
    handoffs = fig.handoffs[ALL]
    assert (handoffs["offered"][LAST], handoffs["accepted"][LAST], handoffs["rejected"][LAST]) == (2, 2, 0)
    assert (handoffs["cases_resolved"][LAST], handoffs["per_case"][LAST]) == (1, 2.0)  # A, resolved, had 2
    assert fig.handoffs["S3"]["per_case"][LAST] is None
    assert (handoffs["ping_pong"][LAST], handoffs["ping_pong_rate"][LAST]) == (1, 50.0)
    accept = fig.time_to_accept[ALL]
    assert (accept.count[LAST], accept.median[LAST], accept.p90[LAST]) == (2, 600, 840)


def test_stage_ownership_from_entry_to_exit(week_of_cases):
    stages = figures().stage_ownership
    # A: triage 10:00–12:00; command 12:00–13:00, then reopened 10:00–11:00 (still command).
    assert (stages[Stage.TRIAGE].count[LAST], stages[Stage.TRIAGE].median[LAST]) == (1, 7200)
    command = stages[Stage.COMMAND]
    assert (command.count[LAST], command.median[LAST], command.p90[LAST]) == (2, 3600, 3600)
    assert stages[Stage.FIX].count[LAST] == 0
    # The week before: F never left triage.
    assert stages[Stage.TRIAGE].count[LAST - 1] == 0


def test_open_cases_arr_sentiment_and_escape_valves(week_of_cases, manager, agent):
    fig = figures()
    # Open at the week's end: B, C, E and F (from the week before, never resolved); A was
    # resolved, D is a drill. ARR at risk: E's $100,000 and F's $60,000.
    end = fig.open_at_end
    assert (end["cases"][ALL][LAST], end["arr_at_risk"][ALL][LAST]) == (4, Decimal("160000.00"))
    assert (end["cases"]["S2"][LAST], end["arr_at_risk"]["S2"][LAST]) == (3, Decimal("160000.00"))
    assert (end["cases"]["S3"][LAST], end["arr_at_risk"]["S3"][LAST]) == (1, Decimal("0.00"))
    assert end["sentiment"][ALL][Sentiment.NEGATIVE][LAST] == 1
    assert end["sentiment"][ALL][Sentiment.UNKNOWN][LAST] == 3
    assert end["cases"][ALL][LAST - 1] == 1  # F, at the end of W46
    assert fig.executive_escalations[ALL][LAST] == 1
    [executive] = fig.valves.executive_escalations
    assert (executive["case_id"], executive["who"], executive["why"], executive["severity"]) == (
        week_of_cases["e"].pk,
        person_name(manager),
        "Executive sponsor asked",
        "S2 — major",
    )
    [override] = fig.valves.severity_overrides
    assert (override["case_id"], override["who"], override["at"]) == (
        week_of_cases["c"].pk,
        person_name(agent),
        at(3, 9, 20),
    )
    assert fig.severity_set_by_hand[ALL][LAST] == 1
    assert fig.severity_set_by_hand["S2"][LAST] == 1


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
    assert 'id="week-state"' not in body and 'id="week-computed"' in body
    assert response.context["chart_data"]["tta_p50"][LAST] == 45.0
    # The footnote is the one table of definitions.
    assert all(f'id="definition-{d.key}"' in body for d in DEFINITIONS)


def test_a_bad_week_names_the_field_and_falls_back(client, manager):
    client.force_login(manager)
    response = client.get(reverse("escalations:manage-review"), {"week": "2026-W99"})
    assert response.status_code == 200
    assert "Week: 2026-W99 is not a week of 2026." in response.content.decode()
    assert response.context["week"] == last_complete_week()


# Session, user, profile (time zone), permissions; the kept weeks (one query, kept or
# not); the chosen week's breach causes (the list, the counts) and four escape-valve
# lists; the RCAs and action items overdue now. No week is ever computed here.
REVIEW_PAGE_QUERIES = 13


def _page_queries(client, week: str = WEEK) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("escalations:manage-review"), {"week": week}).status_code == 200
    return len(ctx.captured_queries)


def test_the_page_query_count_is_constant_in_the_number_of_cases_kept_or_not(
    client, manager, make_incident, agent, django_assert_num_queries, monkeypatch
):
    asked = []
    monkeypatch.setattr("escalations.views.review.review_weeks_hurry", asked.append)
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
        with django_assert_num_queries(REVIEW_PAGE_QUERIES):  # nothing kept: a fresh install
            client.get(reverse("escalations:manage-review"), {"week": WEEK})
        keep()
        with django_assert_num_queries(REVIEW_PAGE_QUERIES):
            client.get(reverse("escalations:manage-review"), {"week": WEEK})
    assert _page_queries(client) == REVIEW_PAGE_QUERIES
    assert [len(weeks) for weeks in asked] == [13, 13]  # the beat was asked each time none was kept


def test_a_week_not_kept_is_shown_as_being_computed_and_never_computed_on_the_page(
    week_of_cases, client, manager, monkeypatch
):
    asked = []
    monkeypatch.setattr("escalations.views.review.review_weeks_hurry", asked.append)
    ReviewWeek.objects.filter(week_start=at(0, 0)).delete()  # W47 just ended; the beat has not run yet
    fig = figures()
    assert fig.state == WeekState.PENDING and fig.chosen is None
    assert fig.tta[ALL].count[LAST] is None and fig.tta[ALL].count[LAST - 1] == 1
    assert [w.label for w in fig.missing] == [WEEK]
    client.force_login(manager)
    response = client.get(reverse("escalations:manage-review"), {"week": WEEK})
    body = response.content.decode()
    state = body.split('id="week-state"', 1)[1].split("</section>", 1)[0]
    assert "2026-W47's figures are being computed" in state and "never computes a week" in state
    assert 'id="review-severities"' not in body and "(being computed)" in body
    assert response.context["chart_data"]["tta_p50"][LAST] is None  # a gap in the chart
    assert "Team at capacity" in body  # the live parts still show
    assert [[w.label for w in weeks] for weeks in asked] == [[WEEK]]
    assert not ReviewWeek.objects.filter(week_start=at(0, 0)).exists()
    # The beat's next run keeps it, and deleting a row makes the beat compute it again.
    assert keep() == 1
    assert figures().tta[ALL].count[LAST] == 3


def test_the_week_in_progress_has_no_figures_until_it_ends(week_of_cases, client, manager, monkeypatch):
    asked = []
    monkeypatch.setattr("escalations.views.review.review_weeks_hurry", asked.append)
    friday = at(4, 18)  # inside 2026-W47
    ReviewWeek.objects.filter(week_start=at(0, 0)).delete()
    fig = review_figures(WEEK, now=friday)
    assert fig.state == WeekState.IN_PROGRESS and fig.missing == []
    keep(now=friday)  # the beat, during the week: W47 is not over, so not kept
    assert not ReviewWeek.objects.filter(week_start=at(0, 0)).exists()
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-review"), {"week": "2099-W01"}).content.decode()
    assert "2099-W01 is not over yet" in body


def test_the_beat_keeps_the_complete_weeks_so_no_view_computes_them(week_of_cases, client, manager):
    from config.beat import BEAT_SCHEDULE
    from escalations.tasks import keep_review_weeks

    assert BEAT_SCHEDULE["keep-review-weeks"]["task"] == keep_review_weeks.name
    assert BEAT_SCHEDULE["keep-review-weeks"]["schedule"] == KEEP_EVERY_SECONDS
    assert ReviewWeek.objects.count() == 13
    kept = ReviewWeek.objects.get(week_start=at(0, 0))
    assert kept.figures["tta"][ALL]["count"] == 3 and kept.history.get().history_user.username == "system"
    assert keep() == 0
    # A kept week is read as kept: the page shows what the row says.
    kept.figures["tta"][ALL]["count"] = 99
    kept.save(update_fields=["figures"])
    assert figures().tta[ALL].count[LAST] == 99
    client.force_login(manager)
    assert _page_queries(client) == REVIEW_PAGE_QUERIES


def test_the_task_keeps_weeks_asked_for_beyond_the_last_thirteen(week_of_cases, time_machine):
    from escalations.tasks import keep_review_weeks

    time_machine.move_to(AFTER + timedelta(minutes=1), tick=False)
    assert review_figures("2026-W20", now=AFTER).state == WeekState.PENDING
    assert keep_review_weeks(asked=["2026-W20", "2026-W99", "2099-W01"]) == 1  # bad and future weeks ignored
    assert review_figures("2026-W20", now=AFTER).state == WeekState.KEPT


def test_asking_the_beat_to_hurry_is_deduplicated_and_writes_nothing(week_of_cases, monkeypatch, settings):
    from escalations.services import review_weeks
    from escalations.sla.weeks import week_parse
    from tests.integration.api_support import row_counts

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hurry"}}
    sent = []
    monkeypatch.setattr(
        review_weeks.current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs["kwargs"]))
    )
    before = row_counts()
    week, other = week_parse("2026-W30"), week_parse("2026-W31")
    assert review_weeks.review_weeks_hurry([week]) is True
    assert review_weeks.review_weeks_hurry([week]) is False  # asked already, within the beat's interval
    assert review_weeks.review_weeks_hurry([other, week]) is True  # only what was not asked yet
    assert sent == [
        ("escalations.keep_review_weeks", {"asked": ["2026-W30"]}),
        ("escalations.keep_review_weeks", {"asked": ["2026-W31"]}),
    ]
    assert row_counts() == before


def test_the_escape_valves_asked_for_with_who_why_and_the_answer(make_incident, agent, other_agent, client, manager):
    from escalations.choices import ValveStatus
    from escalations.models import ExecutiveEscalationRequest, ServiceCreditRequest

    week_of_cases = build_week_of_cases(make_incident, agent, other_agent, manager)
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
    keep()
    fig = figures()
    [asked] = fig.valves.executive_requests
    assert (asked["who"], asked["why"], asked["status"]) == (
        person_name(agent),
        "Customer's CEO called",
        ValveStatus.PENDING.label,
    )
    assert [r["amount"] for r in fig.valves.credit_requests] == [
        Decimal("300.00"),
        Decimal("100.00"),
    ]  # not the drill's
    # The totals are selectors.valves.service_credits_totals', not a sum of the listed rows.
    assert {name: values[LAST] for name, values in fig.credits.items()} == {
        "requested_count": 2,
        "requested_amount": Decimal("400.00"),
        "approved_count": 1,
        "approved_amount": Decimal("300.00"),
    }
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-review"), {"week": WEEK}).content.decode()
    assert "Customer&#x27;s CEO called" in body and "Waiting for a Manager" in body
    assert "Per the contract" in body and "400.00 (2) / 300.00 (1)" in body
    assert _page_queries(client) == REVIEW_PAGE_QUERIES  # each list reads what its rows show, at once


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
