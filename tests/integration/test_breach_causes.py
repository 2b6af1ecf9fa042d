"""The breach-cause learning loop on the real database: the sweep stores the cause the
facts suggest, the review queue lists breaches without a confirmed cause and confirms
them through ``breach_cause_confirm`` (audited with the reviewer, on the case's
timeline), the admin goes through the same service, and the list of causes is edited by
Policy Admins."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import BreachCause, ClockKind, EventKind, Stage
from escalations.errors import NotAllowed, RuleViolation, ServiceError
from escalations.models import Breach, BreachCauseOption, CaseEvent, StaffProfile
from escalations.services import (
    handoff_offer,
    incident_acknowledge,
    incident_change_severity,
    incident_pause,
    incident_resume,
)
from escalations.services.breach_causes import CausePick, breach_cause_confirm, breach_causes_confirm
from escalations.services.engine.sweep import sweep_run
from tests.engine_support import bulk_due_cases, oncall_fixture  # noqa: F401
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
QUEUE = reverse("escalations:manage-breaches")


def _sweep(at):
    return sweep_run(now=at, source="test")


def _breach(incident, kind=ClockKind.ACK) -> Breach:
    return Breach.objects.get(incident=incident, kind=kind)


# --- the sweep stores what the facts suggest --------------------------------------------


def test_the_shipped_causes_are_on_the_list(playbook):
    codes = set(BreachCauseOption.objects.filter(is_active=True).values_list("code", flat=True))
    assert codes == set(BreachCause.values) - {BreachCause.UNKNOWN}


def test_a_plain_ack_breach_is_recorded_unreviewed_without_a_suggestion(make_incident, now, team, oncall):
    incident = make_incident(team=team)  # S2; a Duty Manager is on shift
    _sweep(now + 31 * M)
    breach = _breach(incident)
    assert breach.cause_suggested_id is None
    assert (breach.cause_id, breach.cause_confirmed_at, breach.cause_confirmed_by_id) == (None, None, None)
    assert breach.cause_code == BreachCause.UNKNOWN


def test_an_ack_breach_nobody_was_on_shift_for_is_suggested_unassigned(make_incident, now):
    incident = make_incident(team=TeamFactory(name="Night desk", slug="night"))  # no shifts at all
    _sweep(now + 31 * M)
    assert _breach(incident).cause_suggested_id == BreachCause.UNASSIGNED


def test_an_unaccepted_handoff_is_suggested_as_a_handoff_gap(make_incident, now, agent, other_agent, team, oncall):
    incident = make_incident(team=team)
    handoff_offer(
        incident=incident, actor=agent, now=now + M, to_stage=Stage.TRIAGE, to_user=other_agent,
        summary="Checkout down", customer_impact="EU orders fail", next_steps="Check the gateway",
    )  # fmt: skip
    incident_acknowledge(incident=incident, actor=agent, now=now + 2 * M)
    _sweep(now + 17 * M)  # S2 acceptance time box: 15 minutes
    breach = _breach(incident, ClockKind.HANDOFF)
    assert breach.cause_suggested_id == BreachCause.HANDOFF_GAP and breach.cause_id is None


def test_a_breach_right_after_a_severity_raise_is_suggested_as_wrong_severity(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)  # S2: acknowledge within 30 minutes
    incident_change_severity(incident=incident, severity="S1", reason="Data at risk", actor=agent, now=now + 10 * M)
    incident.refresh_from_db()
    assert incident.severity_raised_at == now + 10 * M
    _sweep(now + 11 * M)  # S1's 5 minutes from the original start: due at +5, breached at once
    breach = _breach(incident)
    assert breach.due_at == now + 5 * M and breach.cause_suggested_id == BreachCause.WRONG_SEVERITY


def test_a_lowered_severity_is_no_raise(make_incident, now, agent, manager, team, oncall):
    incident = make_incident(team=team, severity="S1", severity_reason="Data at risk")
    incident_change_severity(incident=incident, severity="S2", reason="Contained", actor=manager, now=now + M)
    incident.refresh_from_db()
    assert incident.severity_raised_at is None


def test_a_resolve_breach_after_waiting_on_a_third_party_is_suggested_as_third_party(
    make_incident, now, agent, team, oncall
):
    incident = make_incident(team=team)  # S2: resolve within 8 hours
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    incident_pause(incident=incident, reason="third_party", note="Vendor ticket", actor=agent, now=now + 10 * M)
    incident_resume(incident=incident, actor=agent, now=now + 40 * M)
    _sweep(now + 8 * 60 * M + 31 * M)  # the 30 paused minutes moved the resolve deadline to 8 h 30
    assert _breach(incident, ClockKind.RESOLVE).cause_suggested_id == BreachCause.THIRD_PARTY


def test_the_sweep_query_count_stays_constant_with_suggestions(make_incident, now, agent, team, oncall):
    def count(n_cases, at):
        for i in range(n_cases):
            case = make_incident(team=team, title=f"case {i}", now=at - 31 * M)
            if i % 2:  # half raised to S1 just now: a different suggestion, the same queries
                incident_change_severity(incident=case, severity="S1", reason="Data", actor=agent, now=at - M)
        with CaptureQueriesContext(connection) as ctx:
            result = _sweep(at)
        assert result.breaches >= n_cases
        return len(ctx.captured_queries)

    few = count(2, now + 100 * M)
    many = count(10, now + 110 * M)
    assert many == few, (few, many)
    suggested = set(Breach.objects.values_list("cause_suggested", flat=True))
    assert suggested == {None, BreachCause.WRONG_SEVERITY}


# --- confirming: one service -------------------------------------------------------------


@pytest.fixture
def breach(make_incident, now, team, oncall):
    incident = make_incident(team=team, title="Checkout down")
    _sweep(now + 31 * M)
    return _breach(incident)


def test_confirming_records_who_when_history_and_the_timeline(breach, manager, now):
    at = now + 2 * 60 * M
    breach_cause_confirm(breach=breach, cause="capacity", note="Two out sick", actor=manager, now=at)
    breach.refresh_from_db()
    assert (breach.cause_id, breach.cause_note) == ("capacity", "Two out sick")
    assert (breach.cause_confirmed_at, breach.cause_confirmed_by) == (at, manager)
    latest = Breach.history.filter(id=breach.pk).latest()
    assert latest.history_user == manager and latest.cause_id == "capacity"
    assert latest.history_change_reason == "Cause confirmed"
    event = CaseEvent.objects.get(incident=breach.incident, kind=EventKind.BREACH_CAUSE_CONFIRMED)
    assert event.actor == manager and event.at == at
    assert event.new["cause"] == "capacity" and event.old["cause"] is None
    assert "Team at capacity — Two out sick" in event.detail


@pytest.mark.parametrize(
    "cause,code,words",
    [
        ("lunch", "unknown_cause", "not a cause on the list"),
        ("", "required", "Choose a cause"),
        ("unknown", "unknown_cause", "not a cause on the list"),
        ("tooling", "inactive_cause", "retired"),
    ],
)
def test_a_cause_not_on_the_active_list_is_refused_and_nothing_changes(breach, manager, now, cause, code, words):
    BreachCauseOption.objects.filter(code="tooling").update(is_active=False)
    history = Breach.history.filter(id=breach.pk).count()
    with pytest.raises(RuleViolation) as refused:
        breach_cause_confirm(breach=breach.pk, cause=cause, note="x", actor=manager, now=now)
    assert (refused.value.field, refused.value.code) == ("cause", code) and words in refused.value.message
    breach.refresh_from_db()
    assert breach.cause_id is None and breach.cause_confirmed_at is None
    assert Breach.history.filter(id=breach.pk).count() == history
    assert not CaseEvent.objects.filter(kind=EventKind.BREACH_CAUSE_CONFIRMED).exists()


def test_a_retired_cause_stays_on_the_breaches_that_have_it(breach, manager, now):
    breach_cause_confirm(breach=breach, cause="tooling", note="", actor=manager, now=now)
    BreachCauseOption.objects.filter(code="tooling").update(is_active=False)
    breach_cause_confirm(breach=breach, cause="tooling", note="The pager app crashed", actor=manager, now=now + M)
    breach.refresh_from_db()
    assert (breach.cause_id, breach.cause_note) == ("tooling", "The pager app crashed")


def test_only_duty_managers_and_managers_confirm(breach, engineer, agent, duty_manager, now):
    for person in (engineer, agent):
        with pytest.raises(NotAllowed):
            breach_cause_confirm(breach=breach, cause="capacity", note="", actor=person, now=now)
    breach_cause_confirm(breach=breach, cause="capacity", note="", actor=duty_manager, now=now)


def test_the_database_holds_a_cause_and_its_confirmation_together(breach, manager, now):
    for values in (
        {"cause_id": "capacity"},
        {"cause_confirmed_at": now},
        {"cause_confirmed_by": manager},
        {"cause_id": "capacity", "cause_confirmed_at": now},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Breach.objects.filter(pk=breach.pk).update(**values)
    with pytest.raises(IntegrityError), transaction.atomic():  # a code that is not on the list
        with connection.cursor() as cursor:  # foreign keys are checked at commit otherwise
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Breach.objects.filter(pk=breach.pk).update(cause_id="lunch", cause_confirmed_at=now, cause_confirmed_by=manager)


def test_a_batch_is_all_or_nothing_and_names_every_refused_row(make_incident, now, team, oncall, manager):
    one, two, three = (make_incident(team=team, title=t) for t in ("One", "Two", "Three"))
    _sweep(now + 31 * M)
    picks = [
        CausePick(_breach(one).pk, "capacity"),
        CausePick(_breach(two).pk, "lunch"),
        CausePick(_breach(three).pk, ""),
    ]
    with pytest.raises(ServiceError) as refused:
        breach_causes_confirm(picks=picks, actor=manager, now=now)
    assert [e.breach_id for e in refused.value.all_errors()] == [_breach(two).pk, _breach(three).pk]
    assert not Breach.objects.filter(cause_confirmed_at__isnull=False).exists()


# --- the review queue --------------------------------------------------------------------


@pytest.fixture
def queue(make_incident, now, agent, duty_manager, team, oncall):
    """Unreviewed breaches: an S2 ack breach of the support team with no suggestion, an S1
    ack breach of the payments team suggested as wrong severity (detected first), a
    drill's breach, and one already reviewed."""
    payments = TeamFactory(name="Payments", slug="payments")
    raised = make_incident(team=payments, title="Raised to S1")
    incident_change_severity(incident=raised, severity="S1", reason="Data at risk", actor=agent, now=now + 10 * M)
    _sweep(now + 11 * M)  # S1 from the original start: due at +5
    # Reported 18 minutes earlier: acknowledge due at +12, breached in the next sweep.
    plain = make_incident(team=team, title="Plain S2", now=now - 18 * M)
    drill = make_incident(team=team, title="Drill", is_drill=True, actor=duty_manager, now=now - 18 * M)
    reviewed = make_incident(team=team, title="Reviewed", now=now - 18 * M)
    _sweep(now + 13 * M)
    done = _breach(reviewed)
    breach_cause_confirm(breach=done, cause="other", note="", actor=duty_manager, now=now + 14 * M)
    return {
        "plain": _breach(plain),
        "raised": _breach(raised),
        "drill": _breach(drill),
        "reviewed": done,
        "payments": payments,
    }


def _rows(response) -> list[int]:
    assert response.status_code in (200, 400), response.status_code
    return [int(pk) for pk in re.findall(r'<tr id="breach-(\d+)"', response.content.decode())]


def test_the_queue_lists_unreviewed_breaches_of_real_cases_oldest_first(client, manager, queue):
    client.force_login(manager)
    assert _rows(client.get(QUEUE)) == [queue["raised"].pk, queue["plain"].pk]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"severity": "S1"}, ["raised"]),
        ({"severity": "S2"}, ["plain"]),
        ({"kind": "ack"}, ["raised", "plain"]),
        ({"kind": "resolve"}, []),
        ({"suggested": "wrong_severity"}, ["raised"]),
        ({"suggested": "none"}, ["plain"]),
        ({"severity": "S2", "suggested": "wrong_severity"}, []),
    ],
)
def test_the_queue_filters(client, manager, queue, params, expected):
    client.force_login(manager)
    assert _rows(client.get(QUEUE, params)) == [queue[name].pk for name in expected]


def test_the_queue_filters_by_the_cases_team(client, manager, queue, team):
    client.force_login(manager)
    assert _rows(client.get(QUEUE, {"team": queue["payments"].pk})) == [queue["raised"].pk]
    assert _rows(client.get(QUEUE, {"team": team.pk})) == [queue["plain"].pk]


def test_an_invalid_filter_is_shown_and_left_out(client, manager, queue):
    client.force_login(manager)
    response = client.get(QUEUE, {"severity": "S9"})
    assert _rows(response) == [queue["raised"].pk, queue["plain"].pk]
    assert "Select a valid choice" in response.content.decode()


def test_a_row_shows_the_case_clock_times_in_the_viewers_zone_and_the_suggestion(client, manager, queue):
    StaffProfile.objects.create(user=manager, timezone="America/New_York")
    client.force_login(manager)
    body = client.get(QUEUE).content.decode()
    row = body.split(f'<tr id="breach-{queue["raised"].pk}"')[1].split("</tr>")[0]
    assert queue["raised"].incident.reference in row and "Raised to S1" in row and "Payments" in row
    assert "Acknowledge" in row and ">S1<" in row
    # Due 10:05 UTC, detected 10:11 UTC: 05:05 and 05:11 in New York (EST).
    assert "20 Nov 2026 05:05" in row and "20 Nov 2026 05:11" in row and "6m 00s late" in row
    assert "Wrong severity" in row
    assert '<option value="wrong_severity" selected>' in row  # the suggestion is preselected
    assert "America/New_York" in body


def test_the_queue_query_count_does_not_grow_with_the_rows(
    client, manager, customer, email_channel, team, now, oncall, django_assert_max_num_queries
):
    client.force_login(manager)
    bulk_due_cases(2, customer=customer, channel=email_channel, now=now, overdue=40 * M, team=team)
    _sweep(now)
    client.get(QUEUE)  # warm the session and the permission cache as a real page view would
    with CaptureQueriesContext(connection) as few:
        assert len(_rows(client.get(QUEUE))) == 2
    # Session, user, zone, permissions, the causes, the count, the page, the teams filter.
    assert len(few) <= 8, [q["sql"][:80] for q in few.captured_queries]
    bulk_due_cases(30, customer=customer, channel=email_channel, now=now + M, overdue=40 * M, team=team)
    _sweep(now + M)
    with django_assert_max_num_queries(len(few)):
        assert len(_rows(client.get(QUEUE))) == 32


def test_confirming_several_rows_at_once(client, manager, queue):
    client.force_login(manager)
    plain, raised = queue["plain"], queue["raised"]
    response = client.post(
        f"{QUEUE}?severity=",
        {
            "confirm": [plain.pk, raised.pk],
            f"cause-{plain.pk}": "capacity",
            f"note-{plain.pk}": "Two people out sick",
            f"cause-{raised.pk}": "wrong_severity",
            f"note-{raised.pk}": "",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"{QUEUE}?severity="
    plain.refresh_from_db()
    raised.refresh_from_db()
    assert (plain.cause_id, plain.cause_note, plain.cause_confirmed_by) == ("capacity", "Two people out sick", manager)
    assert (raised.cause_id, raised.cause_confirmed_by) == ("wrong_severity", manager)
    for b in (plain, raised):
        assert Breach.history.filter(id=b.pk).latest().history_user == manager
        assert CaseEvent.objects.filter(incident=b.incident, kind=EventKind.BREACH_CAUSE_CONFIRMED, actor=manager)
    assert _rows(client.get(QUEUE)) == []
    timeline = client.get(reverse("escalations:case-detail", args=[plain.incident_id])).content.decode()
    assert "Breach cause confirmed" in timeline and "Team at capacity — Two people out sick" in timeline


def test_confirming_shows_the_result(client, manager, queue):
    client.force_login(manager)
    plain = queue["plain"]
    response = client.post(QUEUE, {"confirm": [plain.pk], f"cause-{plain.pk}": "capacity"}, follow=True)
    assert "Cause confirmed for 1 breach." in response.content.decode()


@pytest.mark.parametrize(
    "cause,message",
    [
        ("lunch", "Cause: “lunch” is not a cause on the list."),
        ("tooling", "Cause: “Tooling” is retired and can no longer be chosen; choose another cause."),
        ("", "Cause: Choose a cause."),
    ],
)
def test_a_bad_row_refuses_the_whole_form_with_the_field_named(client, manager, queue, cause, message):
    BreachCauseOption.objects.filter(code="tooling").update(is_active=False)
    client.force_login(manager)
    plain, raised = queue["plain"], queue["raised"]
    history = Breach.history.count()
    response = client.post(
        QUEUE,
        {
            "confirm": [plain.pk, raised.pk],
            f"cause-{plain.pk}": "capacity",
            f"note-{plain.pk}": "kept <b>as typed</b>",
            f"cause-{raised.pk}": cause,
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    row = body.split(f'<tr id="breach-{raised.pk}"')[1].split("</tr>")[0]
    assert message in row
    # What was typed stays, escaped; nothing was saved.
    assert 'value="kept &lt;b&gt;as typed&lt;/b&gt;"' in body
    assert Breach.history.count() == history
    assert not Breach.objects.filter(pk__in=[plain.pk, raised.pk], cause_confirmed_at__isnull=False).exists()


@pytest.mark.parametrize(
    "data,message",
    [({}, "Tick at least one breach to confirm."), ({"confirm": ["x"]}, "Pick breaches from the list.")],
)
def test_a_form_with_nothing_ticked_or_no_breach_is_refused(client, manager, queue, data, message):
    client.force_login(manager)
    response = client.post(QUEUE, data)
    assert response.status_code == 400 and message in response.content.decode()


def test_a_breach_someone_confirmed_meanwhile_is_not_overwritten(client, manager, duty_manager, queue, now):
    plain = queue["plain"]
    breach_cause_confirm(breach=plain, cause="tooling", note="", actor=duty_manager, now=now + 40 * M)
    client.force_login(manager)
    response = client.post(QUEUE, {"confirm": [plain.pk], f"cause-{plain.pk}": "capacity"})
    assert response.status_code == 400 and "confirmed this breach" in response.content.decode()
    plain.refresh_from_db()
    assert (plain.cause_id, plain.cause_confirmed_by) == ("tooling", duty_manager)


def test_the_queue_form_needs_its_csrf_token(manager, queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    plain = queue["plain"]
    assert client.post(QUEUE, {"confirm": [plain.pk], f"cause-{plain.pk}": "capacity"}).status_code == 403
    assert 'name="csrfmiddlewaretoken"' in client.get(QUEUE).content.decode().split('id="breach-review"')[1]


def test_those_who_may_not_see_the_queue_cannot_confirm_through_it(client, engineer, agent, queue):
    plain = queue["plain"]
    for person in (engineer, agent):
        client.force_login(person)
        assert client.post(QUEUE, {"confirm": [plain.pk], f"cause-{plain.pk}": "capacity"}).status_code == 404
    plain.refresh_from_db()
    assert plain.cause_id is None


def test_the_landing_page_links_the_queue(client, duty_manager):
    client.force_login(duty_manager)
    assert QUEUE in client.get(reverse("escalations:manage")).content.decode()


# --- the admin: the same service, and the list of causes ---------------------------------


def _admin_url(model, view, *args):
    return reverse(f"admin:escalations_{model._meta.model_name}_{view}", args=args)


def test_the_admins_breach_form_confirms_through_the_service(client, manager, breach):
    client.force_login(manager)
    url = _admin_url(Breach, "change", breach.pk)
    assert client.get(url).status_code == 200
    response = client.post(url, {"cause": "third_party", "cause_note": "Carrier outage"})
    assert response.status_code == 302, response.content.decode()[:2000]
    breach.refresh_from_db()
    assert (breach.cause_id, breach.cause_note, breach.cause_confirmed_by) == ("third_party", "Carrier outage", manager)
    assert Breach.history.filter(id=breach.pk).latest().history_user == manager
    assert CaseEvent.objects.filter(incident=breach.incident, kind=EventKind.BREACH_CAUSE_CONFIRMED).count() == 1


def test_the_admins_breach_form_offers_active_causes_only(client, manager, breach):
    BreachCauseOption.objects.filter(code="tooling").update(is_active=False)
    client.force_login(manager)
    url = _admin_url(Breach, "change", breach.pk)
    assert 'value="tooling"' not in client.get(url).content.decode()
    response = client.post(url, {"cause": "tooling", "cause_note": ""})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    breach.refresh_from_db()
    assert breach.cause_id is None


def test_policy_admins_edit_the_list_audited_and_never_delete(client, policy_admin, manager):
    client.force_login(policy_admin)
    response = client.post(
        _admin_url(BreachCauseOption, "add"),
        {
            "code": "runbook_gap",
            "label": "Runbook gap",
            "description": "No play for it",
            "is_active": "on",
            "position": 5,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    option = BreachCauseOption.objects.get(code="runbook_gap")
    assert option.history.latest().history_user == policy_admin
    response = client.post(
        _admin_url(BreachCauseOption, "change", option.pk),
        {"code": "renamed", "label": "Missing runbook", "description": "", "position": 5},
    )
    assert response.status_code == 302
    option.refresh_from_db()
    assert (option.code, option.label, option.is_active) == ("runbook_gap", "Missing runbook", False)
    assert option.history.latest().history_user == policy_admin
    assert client.post(_admin_url(BreachCauseOption, "delete", option.pk), {"post": "yes"}).status_code == 403
    # "unknown" is how reports name an unreviewed breach: never a cause.
    response = client.post(_admin_url(BreachCauseOption, "add"), {"code": "unknown", "label": "Unknown", "position": 1})
    assert response.status_code == 200 and not BreachCauseOption.objects.filter(code="unknown").exists()
    client.force_login(manager)
    assert client.get(_admin_url(BreachCauseOption, "add")).status_code == 403


# --- reports ----------------------------------------------------------------------------


def test_weekly_figures_count_breaches_by_confirmed_cause(queue, manager, now):
    from escalations.reporting.live import breaches_by_cause
    from escalations.sla.weeks import week_parse

    breach_cause_confirm(breach=queue["plain"], cause="capacity", note="", actor=manager, now=now + 50 * M)
    by_cause = breaches_by_cause(week_parse("2026-W47")).counts
    assert by_cause["capacity"] == 1 and by_cause["other"] == 1 and by_cause["unknown"] == 1  # raised: unreviewed
    assert by_cause["tooling"] == 0 and set(by_cause) >= set(BreachCause.values)
    assert sum(by_cause.values()) == 3  # the drill's breach never counts
