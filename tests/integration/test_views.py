"""The CS workspace pages and actions, through Django's test client.

Time is frozen just after the conftest's T0 so the cases that ``make_incident`` opens at
T0 have live clocks when the views call ``timezone.now()``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.choices import HandoffStatus, NotificationChannel, Status
from escalations.models import (
    CaseEvent,
    ChecklistItem,
    ClockPause,
    CustomerUpdate,
    HandoffPacket,
    Incident,
    Notification,
    StaffProfile,
)
from escalations.services import (
    customer_update_post,
    handoff_accept,
    handoff_offer,
    incident_acknowledge,
    incident_pause,
    incident_update,
)
from escalations.services.engine.sweep import sweep_run
from tests.checklists_support import complete_checklist
from tests.conftest import T0
from tests.engine_support import oncall_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)
    return time_machine


def login(client, user):
    client.force_login(user)
    return client


def case_url(incident, action: str = "") -> str:
    if not action:
        return reverse("escalations:case-detail", args=[incident.pk])
    return reverse(f"escalations:case-{action}", args=[incident.pk])


def text(response) -> str:
    return response.content.decode()


def tick_all(incident, user, stage: str | None = None) -> None:
    complete_checklist(incident, user, T0, stage=stage)


# --- Sign-in and navigation ---------------------------------------------------------------


def test_login_page_renders_and_signs_in(client, agent):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in text(response)
    response = client.post(reverse("login"), {"username": agent.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response["Location"] == reverse("escalations:queue")


def test_navigation_shows_each_role_what_it_may_do(client, agent, engineer, policy_admin, manager):
    nav = {}
    for user in (agent, engineer, policy_admin, manager):
        login(client, user)
        nav[user.username] = text(client.get(reverse("escalations:queue")))
    new_case = reverse("escalations:case-create")
    assert new_case in nav[agent.username]
    assert new_case not in nav[engineer.username]  # engineers do not take intake
    assert new_case not in nav[policy_admin.username]
    assert reverse("escalations:shift-handoff") not in nav[policy_admin.username]  # may view, not work
    assert reverse("admin:index") in nav[manager.username]
    assert reverse("admin:index") not in nav[agent.username]


# --- Work queues -------------------------------------------------------------------------


def test_queue_rows_show_severity_customer_status_owner_and_clocks(client, agent, make_incident):
    incident = make_incident(data_risk=True, title="Data leak suspected")  # S1: acknowledge within 5 minutes
    response = login(client, agent).get(reverse("escalations:queue"), {"queue": "all"})
    body = text(response)
    assert response.status_code == 200
    assert incident.reference in body and "Acme Corp" in body and "New" in body
    assert 'class="sev sev--S1">S1<' in body
    # The acknowledge countdown: 4 minutes left (frozen at T0+1m), deadline in a data attribute for the ticker.
    assert f'data-due="{incident.ack_due_at.isoformat()}"' in body
    assert "4m 00s left" in body


def test_queue_states_are_text_and_icon_not_colour_alone(client, agent, make_incident, _frozen):
    make_incident(data_risk=True)  # S1
    _frozen.shift(timedelta(minutes=3, seconds=30))  # 4m30s elapsed: past the 75 % warning
    body = text(login(client, agent).get(reverse("escalations:queue"), {"queue": "all"}))
    assert '⚠</span> <span class="clock-label">warning' in body
    _frozen.shift(timedelta(minutes=2))  # past the 5-minute target
    body = text(client.get(reverse("escalations:queue"), {"queue": "all"}))
    assert '✖</span> <span class="clock-label">breached' in body
    assert "overdue 1m 30s" in body


def test_queue_sorted_by_nearest_deadline(client, agent, make_incident):
    s2 = make_incident(title="Second")  # S2: acknowledge in 30 minutes
    s1 = make_incident(title="First", data_risk=True)  # S1: 5 minutes
    body = text(login(client, agent).get(reverse("escalations:queue"), {"queue": "all"}))
    assert body.index(s1.reference) < body.index(s2.reference)


def test_queue_order_breached_then_warning_then_running_then_waiting(
    client, agent, make_incident, unagreed_channel, _frozen
):
    """Breached (most overdue first), warning, running by nearest deadline, then paused
    and not started — in the web queues and the API's default order alike."""
    paused = make_incident(title="Paused", now=T0 - timedelta(hours=3), stage_dri=agent)
    incident_acknowledge(incident=paused, actor=agent, now=T0 - timedelta(hours=3))
    incident_pause(incident=paused, reason="customer", note="Logs asked", actor=agent, now=T0 - timedelta(hours=3))
    not_started = make_incident(title="Not started", channel=unagreed_channel, stage_dri=agent)
    running = make_incident(title="Running S3", arr_at_risk=0, stage_dri=agent)
    s1_breached = make_incident(title="Breached S1", data_risk=True, now=T0 - timedelta(hours=2), stage_dri=agent)
    s2_breached = make_incident(title="Breached S2", now=T0 - timedelta(minutes=50), stage_dri=agent)
    warning = make_incident(title="Warning S1", data_risk=True, now=T0 - timedelta(minutes=3), stage_dri=agent)
    sweep_run(now=T0 + timedelta(minutes=1), source="test")
    expected = [s1_breached, s2_breached, warning, running, not_started, paused]
    expected_refs = [i.reference for i in expected]
    login(client, agent)
    for queue in ("mine", "all"):
        body = text(client.get(reverse("escalations:queue"), {"queue": queue}))
        assert sorted(expected_refs, key=body.index) == expected_refs, queue
    api = client.get("/api/v1/incidents/").json()["results"]
    assert [row["reference"] for row in api if row["reference"] in expected_refs] == expected_refs


def test_queue_opens_on_mine_then_on_the_queue_last_opened(client, agent, make_incident):
    from escalations.models import StaffProfile

    make_incident(title="Somebody else's")
    login(client, agent)
    assert 'aria-current="page" class="active">Mine' in text(client.get(reverse("escalations:queue")))
    client.get(reverse("escalations:queue"), {"queue": "all"})
    assert StaffProfile.objects.get(user=agent).queue == "all"
    assert 'aria-current="page" class="active">All open' in text(client.get(reverse("escalations:queue")))
    # The yes/no filters read "Any", not Django's "Unknown".
    body = text(client.get(reverse("escalations:queue")))
    assert ">Any</option>" in body and ">Unknown</option>" not in body


def test_queue_tabs_mine_team_unassigned_at_risk(client, agent, other_agent, team, make_incident, _frozen):
    mine = make_incident(title="Mine", stage_dri=agent, team=team)
    theirs = make_incident(title="Theirs", stage_dri=other_agent)
    nobody = make_incident(title="Nobody's", data_risk=True)
    login(client, agent)

    def refs(queue: str) -> set[str]:
        body = text(client.get(reverse("escalations:queue"), {"queue": queue}))
        return {i.reference for i in (mine, theirs, nobody) if i.reference in body}

    assert refs("mine") == {mine.reference}
    assert refs("team") == {mine.reference}
    assert refs("unassigned") == {nobody.reference}
    assert refs("at_risk") == set()
    _frozen.shift(timedelta(minutes=10))  # the S1's acknowledge deadline passes
    assert refs("at_risk") == {nobody.reference}
    assert client.get(reverse("escalations:queue"), {"queue": "bogus"}).status_code == 404


def test_queue_filters_and_search(client, agent, duty_manager, make_incident, customer):
    from tests.factories import CustomerFactory

    other = CustomerFactory(name="Globex")
    s1 = make_incident(title="Payments down", data_risk=True)
    s2 = make_incident(title="Slow reports", customer=other)
    drill = make_incident(title="Practice run", is_drill=True, actor=duty_manager, stage_dri=agent)
    login(client, agent)

    def refs(**params) -> set[str]:
        body = text(client.get(reverse("escalations:queue"), {"queue": "all", **params}))
        return {i.reference for i in (s1, s2, drill) if i.reference in body}

    assert refs(severity="S1") == {s1.reference}
    assert refs(customer=other.pk) == {s2.reference}
    assert refs(q="payments") == {s1.reference}
    assert refs(q="globex") == {s2.reference}
    assert refs(q=s2.reference) == {s2.reference}
    assert refs(is_drill="true") == {drill.reference}
    assert refs(status="new") == {s1.reference, s2.reference, drill.reference}
    assert refs(breached="true") == set()


def test_queue_paginates(client, agent, make_incident, monkeypatch):
    from escalations.views import queue as queue_view

    monkeypatch.setattr(queue_view, "PAGE_SIZE", 2)
    made = [make_incident(title=f"Case {n}") for n in range(5)]
    login(client, agent)
    first = text(client.get(reverse("escalations:queue"), {"queue": "all"}))
    assert "Page 1 of 3" in first
    last = text(client.get(reverse("escalations:queue"), {"page": 3, "queue": "all"}))
    # Equal deadlines and severity: the newest first, so the oldest is on the last page.
    assert made[0].reference in last and made[-1].reference not in last


# --- Intake ---------------------------------------------------------------------------------


def intake_data(customer, channel, **extra) -> dict:
    return {
        "title": "Exports leak other tenants' data",
        "customer": customer.pk,
        "channel": channel.pk,
        "arr_at_risk": "0",
        "users_affected_pct": "0",
        **extra,
    }


def test_intake_check_severity_shows_trigger_result_without_saving(client, agent, customer, email_channel):
    data = intake_data(customer, email_channel, data_risk="on", action="check")
    response = login(client, agent).post(reverse("escalations:case-create"), data)
    assert response.status_code == 200
    assert "Triggers give S1: Data risk" in text(response)
    assert not Incident.objects.exists()


def test_intake_preview_json(client, agent):
    response = login(client, agent).get(reverse("escalations:case-create-preview"), {"arr_at_risk": "75000"})
    assert response.json() == {"severity": "S2", "explanation": "S2: $50,000 or more ARR at risk"}


def test_intake_creates_case_and_shows_reference(client, agent, customer, email_channel):
    response = login(client, agent).post(
        reverse("escalations:case-create"), intake_data(customer, email_channel, data_risk="on", action="create")
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == case_url(incident)
    page = client.get(response["Location"])
    assert f"Created {incident.reference}" in text(page)
    assert incident.severity == "S1" and incident.created_by == agent
    assert incident.history.first().history_user == agent


def test_intake_raising_severity_needs_a_reason(client, agent, customer, email_channel):
    data = intake_data(customer, email_channel, severity="S2", action="create")
    response = login(client, agent).post(reverse("escalations:case-create"), data)
    assert response.status_code == 400
    assert re.search(r"field-error.*Why a different severity\?: Raising the severity needs a reason", text(response))
    assert not Incident.objects.exists()
    data["severity_reason"] = "CEO of the customer called"
    assert client.post(reverse("escalations:case-create"), data).status_code == 302
    assert Incident.objects.get().severity == "S2"


def test_intake_downgrade_needs_a_manager(client, agent, manager, customer, email_channel):
    data = intake_data(
        customer, email_channel, data_risk="on", severity="S3", severity_reason="test data only", action="create"
    )
    response = login(client, agent).post(reverse("escalations:case-create"), data)
    assert response.status_code == 403
    assert "Severity: The triggers say S1; only a Manager" in text(response)
    assert not Incident.objects.exists()
    assert login(client, manager).post(reverse("escalations:case-create"), data).status_code == 302
    assert Incident.objects.get().severity == "S3"


def test_intake_missing_title_names_the_field(client, agent, customer, email_channel):
    response = login(client, agent).post(
        reverse("escalations:case-create"), intake_data(customer, email_channel, title="", action="create")
    )
    assert response.status_code == 400
    assert "Title: A case needs a title." in text(response)


def test_intake_names_every_missing_field_at_once(client, agent):
    before = Incident.objects.count()
    response = login(client, agent).post(reverse("escalations:case-create"), {"action": "create"})
    assert response.status_code == 400
    body = text(response)
    for error in ("Title: A case needs a title.", "Customer: Choose the customer.", "Received on: Choose the channel"):
        assert error in body
    assert Incident.objects.count() == before


# --- Case page ---------------------------------------------------------------------------------


def test_case_page_header_clocks_people_bridge(client, agent, manager, make_incident):
    incident = make_incident(
        data_risk=True, commander=manager, stage_dri=agent, bridge_url="https://meet.example.com/esc"
    )
    body = text(login(client, agent).get(case_url(incident)))
    assert "Mia_Manager" in body and "Alice_Agent" in body
    assert 'href="https://meet.example.com/esc"' in body
    # Elapsed counts up (app.js, from data-elapsed) beside each countdown; one figure each.
    assert body.count('Elapsed <span class="elapsed" data-elapsed="60">1m 00s</span>') == 2
    assert "4m 00s left" in body and "1h 59m left" in body and "· remaining" not in body
    assert 'id="next-update-due"' in body
    # The SOP checklist with its one-page play beside it.
    assert "S1 first hour (triage)" in body and "Acknowledge the page within 5 minutes." in body


def test_business_hours_elapsed_counts_up_only_while_the_calendar_is_open(client, agent, make_incident, _frozen):
    incident = make_incident(arr_at_risk=0)  # S3: Mon–Fri 09:00–17:00 London; T0 is Friday 10:00
    body = text(login(client, agent).get(case_url(incident)))
    assert 'data-elapsed="60" data-elapsed-until="2026-11-20T17:00:00+00:00">1m 00s</span>' in body
    assert "(business hours)" in body
    _frozen.move_to(T0 + timedelta(hours=9), tick=False)  # 19:00: closed until Monday
    body = text(login(client, agent).get(case_url(incident)))
    assert "data-elapsed=" not in body and '<span class="elapsed">7h 00m</span>' in body


def test_case_page_shows_the_customers_problem_and_the_latest_update(client, agent, make_incident, email_channel):
    incident = make_incident(description="Card payments <b>fail</b> at the last step since 09:40.")
    body = text(login(client, agent).get(case_url(incident)))
    assert "Card payments &lt;b&gt;fail&lt;/b&gt; at the last step since 09:40." in body
    assert "None sent yet." in body
    customer_update_post(
        incident=incident, body="We are on it; next update by 11:00.", channel=incident.channel, actor=agent, now=T0
    )
    body = text(client.get(case_url(incident)))
    assert "We are on it; next update by 11:00." in body.split('id="latest-update"')[1].split("</section>")[0]


def test_case_page_paused_banner_names_who_and_since(client, agent, make_incident):
    incident = make_incident()
    incident_acknowledge(incident=incident, actor=agent, now=T0)  # the acknowledge clock never pauses
    incident_pause(incident=incident, reason="customer", note="Waiting for HAR file", actor=agent, now=T0)
    StaffProfile.objects.create(user=agent, timezone="Europe/Berlin")
    body = text(login(client, agent).get(case_url(incident)))
    assert "‖ paused — waiting on customer since 11:00 Europe/Berlin" in body
    assert "by Alice_Agent: “Waiting for HAR file”" in body


def test_bridge_link_only_for_http_urls(client, agent, make_incident):
    incident = make_incident()
    Incident.objects.filter(pk=incident.pk).update(bridge_url="javascript:alert(1)")  # as if imported badly
    body = text(login(client, agent).get(case_url(incident)))
    assert 'href="javascript' not in body


# --- Actions -----------------------------------------------------------------------------------


def test_acknowledge_get_is_a_confirm_page_post_acknowledges(client, agent, make_incident):
    incident = make_incident(data_risk=True)
    url = case_url(incident, "acknowledge")
    response = login(client, agent).get(url)
    assert response.status_code == 200 and "✔ Acknowledge" in text(response)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None  # a GET (an email link) changes nothing
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == case_url(incident)
    incident.refresh_from_db()
    assert incident.acknowledged_by == agent and incident.status == Status.ACKNOWLEDGED
    assert incident.history.first().history_user == agent
    again = client.post(url)
    assert again.status_code == 400 and "already acknowledged" in text(again)


def test_acknowledge_next_must_be_same_site(client, agent, make_incident):
    incident = make_incident()
    response = login(client, agent).post(case_url(incident, "acknowledge"), {"next": "https://evil.example/"})
    assert response["Location"] == case_url(incident)


def test_pause_without_reason_names_the_field_and_changes_nothing(client, agent, make_incident):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=T0)
    response = login(client, agent).post(
        case_url(incident, "pause"), {"version": incident.version, "reason": "customer", "note": ""}
    )
    assert response.status_code == 400
    assert "Reason (visible to everyone): Say what you are waiting for." in text(response)
    assert not ClockPause.objects.exists()
    assert Incident.objects.get().version == incident.version


def test_pause_and_resume(client, agent, make_incident, _frozen):
    incident = make_incident()
    incident = incident_acknowledge(incident=incident, actor=agent, now=T0)
    login(client, agent)
    response = client.post(
        case_url(incident, "pause"), {"version": incident.version, "reason": "third_party", "note": "AWS ticket 42"}
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.WAITING_ON_THIRD_PARTY
    assert "‖ paused — waiting on third party" in text(client.get(case_url(incident)))
    _frozen.shift(timedelta(minutes=10))
    assert client.post(case_url(incident, "resume"), {"version": incident.version}).status_code == 302
    incident.refresh_from_db()
    assert incident.paused_since is None and incident.status == Status.INVESTIGATING


def test_customer_update_shows_next_due(client, agent, make_incident):
    incident = make_incident()
    response = login(client, agent).post(
        case_url(incident, "update"), {"version": incident.version, "body": "We are on it; next update in 1h."}
    )
    assert response.status_code == 302
    update = CustomerUpdate.objects.get()
    assert update.posted_by == agent and update.channel == incident.channel
    incident.refresh_from_db()
    assert incident.next_update_due_at == T0 + timedelta(minutes=61)
    body = text(client.get(case_url(incident)))
    assert "Next update due 20 Nov 11:01 UTC" in body
    empty = client.post(case_url(incident, "update"), {"version": incident.version, "body": "  "})
    assert empty.status_code == 400 and "Write the update you sent to the customer." in text(empty)


def test_change_severity_with_reason_and_downgrade_needs_manager(client, agent, manager, make_incident):
    incident = make_incident()  # S2 from the ARR trigger
    login(client, agent)
    no_reason = client.post(case_url(incident, "severity"), {"version": incident.version, "severity": "S1"})
    assert no_reason.status_code == 400 and "A severity change needs a reason." in text(no_reason)
    raised = client.post(
        case_url(incident, "severity"), {"version": incident.version, "severity": "S1", "reason": "Exec escalation"}
    )
    assert raised.status_code == 302
    incident.refresh_from_db()
    assert incident.severity == "S1"
    down = {"version": incident.version, "severity": "S3", "reason": "Smaller than we thought"}
    refused = client.post(case_url(incident, "severity"), down)
    assert refused.status_code == 403
    assert "only a Manager may set a lower severity" in text(refused)
    assert Incident.objects.get().severity == "S1"
    assert login(client, manager).post(case_url(incident, "severity"), down).status_code == 302
    assert Incident.objects.get().severity == "S3"


def test_assign_commander_and_dri(client, agent, duty_manager, manager, make_incident):
    incident = make_incident()
    data = {
        "version": incident.version,
        "title": incident.title,
        "commander": manager.pk,
        "stage_dri": duty_manager.pk,
        "bridge_url": "https://meet.example.com/x",
        "sentiment": "unknown",
        "arr_at_risk": "60000.00",
        "users_affected_pct": "0.00",
    }
    response = login(client, agent).post(case_url(incident, "edit"), data)
    assert response.status_code == 302, text(response)
    incident.refresh_from_db()
    assert (incident.commander, incident.stage_dri) == (manager, duty_manager)
    assigned = CaseEvent.objects.get(incident=incident, kind="assigned")
    assert set(assigned.new) == {"commander", "stage_dri"}  # only what changed is sent
    edited = CaseEvent.objects.get(incident=incident, kind="edited")
    assert set(edited.new) == {"bridge_url"}


def test_owner_must_be_able_to_work_cases(client, agent, policy_admin, make_incident):
    incident = make_incident()
    data = {
        "version": incident.version,
        "title": incident.title,
        "commander": policy_admin.pk,
        "sentiment": "unknown",
        "arr_at_risk": "60000",
        "users_affected_pct": "0",
    }
    response = login(client, agent).post(case_url(incident, "edit"), data)
    assert response.status_code == 400  # not offered as a choice at all
    assert Incident.objects.get().commander is None


def test_resolve_with_open_required_items_is_refused(client, agent, manager, make_incident):
    incident = make_incident(data_risk=True, commander=manager, bridge_url="https://meet.example.com/b")
    login(client, agent)
    data = {"version": incident.version, "resolution": "Rolled back"}
    response = client.post(case_url(incident, "resolve"), data)
    assert response.status_code == 400
    assert "required checklist items of the Triage" in text(response)
    assert Incident.objects.get().status == Status.NEW
    tick_all(incident, agent, stage="triage")
    incident.refresh_from_db()
    response = client.post(case_url(incident, "resolve"), {**data, "version": incident.version})
    assert response.status_code == 302
    assert Incident.objects.get().status == Status.RESOLVED


def test_resolve_s1_without_commander_names_commander(client, agent, make_incident):
    incident = make_incident(data_risk=True)
    response = login(client, agent).post(
        case_url(incident, "resolve"), {"version": incident.version, "resolution": "Fixed"}
    )
    assert response.status_code == 400
    assert "S1 cases need an Incident Commander before they can be resolved." in text(response)


def test_reopen_and_close(client, agent, make_incident):
    incident = make_incident(arr_at_risk=0)  # S3, no required items in triage
    login(client, agent)
    assert client.post(case_url(incident, "resolve"), {"version": 1, "resolution": "Done"}).status_code == 302
    incident.refresh_from_db()
    refused = client.post(case_url(incident, "reopen"), {"version": incident.version, "reason": ""})
    assert refused.status_code == 400 and "Say why the case is reopened." in text(refused)
    assert client.post(case_url(incident, "reopen"), {"version": incident.version, "reason": "Back"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING and incident.resolve_cycle == 2
    client.post(case_url(incident, "resolve"), {"version": incident.version, "resolution": "Done again"})
    incident.refresh_from_db()
    assert client.post(case_url(incident, "close"), {"version": incident.version}).status_code == 302
    assert Incident.objects.get().status == Status.CLOSED


def test_checklist_tick_and_untick(client, agent, make_incident):
    incident = make_incident(data_risk=True)
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("order").first()
    url = reverse("escalations:case-checklist-item", args=[incident.pk, item.pk])
    login(client, agent)
    assert client.post(url, {"done": "on", "version": version(incident)}).status_code == 302
    item.refresh_from_db()
    assert item.done_by == agent
    assert client.post(url, {"version": version(incident)}).status_code == 302
    item.refresh_from_db()
    assert item.done_at is None
    other = make_incident()
    wrong = reverse("escalations:case-checklist-item", args=[other.pk, item.pk])
    assert client.post(wrong, {"done": "on", "version": version(other)}).status_code == 404


def version(incident) -> int:
    return Incident.objects.values_list("version", flat=True).get(pk=incident.pk)


def test_a_tick_or_a_handoff_answer_from_a_stale_page_is_refused(client, agent, other_agent, make_incident):
    """Ticks and handoff answers carry the version the page showed, like every other
    change: one made from a page that predates a change to what it relies on (here the
    severity) changes nothing and shows what changed."""
    from escalations.services import incident_change_severity

    incident = make_incident(stage_dri=agent)
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("order").first()
    handoff = handoff_offer(incident=incident, actor=agent, now=T0, to_stage="triage", to_user=other_agent,
                            summary="s", customer_impact="c", next_steps="n")  # fmt: skip
    stale = version(incident)
    incident_change_severity(incident=incident, severity="S1", reason="Data exposed", actor=agent, now=T0)
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("order").first()
    login(client, other_agent)
    tick = client.post(
        reverse("escalations:case-checklist-item", args=[incident.pk, item.pk]), {"done": "on", "version": stale}
    )
    accept = client.post(reverse("escalations:handoff-accept", args=[handoff.pk]), {"version": stale})
    assert (tick.status_code, accept.status_code) == (409, 409)
    assert "changed by someone else" in text(accept)
    item.refresh_from_db()
    handoff.refresh_from_db()
    assert item.done_at is None and handoff.status == HandoffStatus.OFFERED
    assert (
        client.post(
            reverse("escalations:handoff-accept", args=[handoff.pk]), {"version": version(incident)}
        ).status_code
        == 302
    )


# --- Handoffs ------------------------------------------------------------------------------------


def handoff_data(incident, **extra) -> dict:
    return {
        "version": incident.version,
        "to_stage": incident.stage,
        "summary": "Checkout failing",
        "customer_impact": "EU users cannot pay",
        "next_steps": "Watch the rollback",
        **extra,
    }


def test_handoff_form_is_prefilled_from_the_case(client, agent, make_incident):
    incident = make_incident(data_risk=True)
    customer_update_post(incident=incident, body="Investigating the exports", channel=None, actor=agent, now=T0)
    body = text(login(client, agent).get(case_url(incident)))
    assert "Latest customer update: Investigating the exports" in body
    assert "S1: Data risk; ARR at risk $60,000; data risk" in body


def test_handoff_offer_accept(client, agent, other_agent, make_incident):
    incident = make_incident(stage_dri=agent)
    response = login(client, agent).post(case_url(incident, "handoff"), handoff_data(incident, to_user=other_agent.pk))
    assert response.status_code == 302, text(response)
    handoff = HandoffPacket.objects.get()
    assert handoff.from_user == agent and handoff.checklist_state
    body = text(client.get(case_url(incident)))
    assert "Waiting for bob_agent" in body and "Accept handoff" not in body  # the sender cannot accept
    body = text(login(client, other_agent).get(case_url(incident)))
    assert "✔ Accept handoff" in body
    assert (
        client.post(
            reverse("escalations:handoff-accept", args=[handoff.pk]), {"version": version(incident)}
        ).status_code
        == 302
    )
    incident.refresh_from_db()
    assert incident.stage_dri == other_agent
    assert HandoffPacket.objects.get().status == HandoffStatus.ACCEPTED


def test_handoff_reject_needs_reason_and_only_receiver_answers(client, agent, other_agent, duty_manager, make_incident):
    incident = make_incident(stage_dri=agent)
    handoff = handoff_offer(
        incident=incident,
        actor=agent,
        now=T0,
        to_stage="triage",
        to_user=other_agent,
        summary="s",
        customer_impact="c",
        next_steps="n",
    )
    url = reverse("escalations:handoff-reject", args=[handoff.pk])
    outsider_answer = login(client, duty_manager).post(url, {"reason": "Not mine", "version": version(incident)})
    assert outsider_answer.status_code == 400 and "Only the receiver" in text(outsider_answer)
    login(client, other_agent)
    no_reason = client.post(url, {"reason": "", "version": version(incident)})
    assert no_reason.status_code == 400 and "Why you reject it: Say why you reject the handoff." in text(no_reason)
    assert client.post(url, {"reason": "On leave tomorrow", "version": version(incident)}).status_code == 302
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.REJECTED
    assert Incident.objects.get().stage_dri == agent


def test_handoff_straight_back_asks_why(client, agent, other_agent, make_incident):
    incident = make_incident(stage_dri=agent)
    first = handoff_offer(
        incident=incident,
        actor=agent,
        now=T0,
        to_stage="triage",
        to_user=other_agent,
        summary="s",
        customer_impact="c",
        next_steps="n",
    )
    handoff_accept(handoff=first, actor=other_agent, now=T0)
    incident.refresh_from_db()
    login(client, other_agent)
    body = text(client.get(case_url(incident)))
    assert "Handing it straight back is ping-pong" in body
    response = client.post(case_url(incident, "handoff"), handoff_data(incident, to_user=agent.pk))
    assert response.status_code == 400
    assert "Why hand it straight back? (only for ping-pong): This hands the case straight back" in text(response)
    assert HandoffPacket.objects.count() == 1
    response = client.post(
        case_url(incident, "handoff"),
        handoff_data(incident, to_user=agent.pk, ping_pong_reason="Alice owns the billing integration"),
    )
    assert response.status_code == 302
    assert HandoffPacket.objects.get(status="offered").is_ping_pong


# --- Two editors ---------------------------------------------------------------------------------


def test_second_save_gets_a_conflict_showing_what_changed(client, agent, other_agent, make_incident):
    incident = make_incident()
    opened_version = incident.version  # both editors opened the page at this version
    incident_update(
        incident=incident,
        actor=other_agent,
        now=T0,
        expected_version=opened_version,
        title="Checkout failing for ALL users",
    )
    data = {
        "version": opened_version,
        "title": incident.title,
        "sentiment": "negative",
        "arr_at_risk": "60000",
        "users_affected_pct": "0",
    }
    response = login(client, agent).post(case_url(incident, "edit"), data)
    body = text(response)
    assert response.status_code == 409
    assert "This case was changed by someone else since you opened it" in body
    assert "Checkout failing for EU users" in body and "Checkout failing for ALL users" in body
    current = Incident.objects.get()
    assert current.sentiment == "unknown" and current.title == "Checkout failing for ALL users"  # nothing overwritten
    # The input is kept and the hidden version moved on, so a re-submit is deliberate.
    assert f'name="version" value="{current.version}"' in body
    assert re.search(r'<option value="negative" selected>', body)
    resubmit = {**data, "version": current.version, "title": current.title}
    assert client.post(case_url(incident, "edit"), resubmit).status_code == 302
    assert Incident.objects.get().sentiment == "negative"


def test_conflict_on_pause_keeps_the_note(client, agent, other_agent, make_incident):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=T0)
    incident_pause(incident=incident, reason="third_party", note="Stripe", actor=other_agent, now=T0)
    response = login(client, agent).post(
        case_url(incident, "pause"), {"version": incident.version, "reason": "customer", "note": "Need logs"}
    )
    assert response.status_code == 409
    assert "Need logs" in text(response).split('id="conflict-input"')[1]
    assert ClockPause.objects.get().note == "Stripe"


def test_an_unrelated_change_is_no_conflict(client, agent, other_agent, make_incident):
    """A teammate's customer update or sentiment edit does not make your severity change,
    pause or tick stale; only a change to what your action touches or relies on does."""
    incident = incident_acknowledge(incident=make_incident(arr_at_risk=0), actor=agent, now=T0)
    opened = incident.version
    customer_update_post(incident=incident, body="Update", channel=None, actor=other_agent, now=T0)
    incident_update(incident=incident, actor=other_agent, now=T0, sentiment="negative")
    login(client, agent)
    data = {"version": opened, "severity": "S2", "reason": "Two more customers affected"}
    assert client.post(case_url(incident, "severity"), data).status_code == 302
    assert Incident.objects.get().severity == "S2"
    # A second severity change from the same stale page is a conflict: severity changed.
    again = client.post(case_url(incident, "severity"), {**data, "severity": "S1"})
    assert again.status_code == 409 and Incident.objects.get().severity == "S2"


# --- Timeline --------------------------------------------------------------------------------------


def test_timeline_newest_first_with_who_and_field_changes(client, agent, other_agent, make_incident):
    incident = make_incident()
    incident_acknowledge(incident=incident, actor=agent, now=T0 + timedelta(seconds=30))
    incident_update(incident=incident, actor=other_agent, now=T0 + timedelta(seconds=40), sentiment="negative")
    body = text(login(client, agent).get(case_url(incident)))
    timeline = body[body.index('id="timeline"') :]
    assert timeline.index("Details edited") < timeline.index("Acknowledged") < timeline.index("Case opened")
    assert "Sentiment: Unknown → Negative" in timeline
    assert "Bob_Agent" in timeline


# --- Paging inbox ------------------------------------------------------------------------------------


def test_paging_inbox_lists_my_pages_with_one_click_acknowledge(client, agent, other_agent, make_incident):
    incident = make_incident(data_risk=True)
    # Reference rows for the inbox (the engine writes these when it pages).
    for n, user in enumerate((agent, other_agent)):
        Notification.objects.create(
            incident=incident,
            channel=NotificationChannel.IN_APP,
            recipient=user,
            subject=f"S1 page {n}",
            idempotency_key=f"page-{n}",
            created_at=T0,
        )
    login(client, agent)
    body = text(client.get(reverse("escalations:pages")))
    assert "S1 page 0" in body and "S1 page 1" not in body
    assert 'name="next" value="/pages/"' in body
    response = client.post(case_url(incident, "acknowledge"), {"next": reverse("escalations:pages")})
    assert response["Location"] == reverse("escalations:pages")
    assert "✔ acknowledged by Alice_Agent" in text(client.get(reverse("escalations:pages")))


# --- End of shift ----------------------------------------------------------------------------------


def test_end_of_shift_walks_through_a_packet_per_case(client, agent, other_agent, make_incident):
    first = make_incident(title="First", stage_dri=agent)
    second = make_incident(title="Second", stage_dri=agent)
    make_incident(title="Not mine", stage_dri=other_agent)
    login(client, agent)
    listing = text(client.get(reverse("escalations:shift-handoff")))
    assert first.reference in listing and second.reference in listing and "Not mine" not in listing
    page = text(client.get(reverse("escalations:shift-handoff-case", args=[first.pk])))
    assert '">\nFirst</textarea>' in page  # the summary is pre-filled from the case title
    response = client.post(
        reverse("escalations:shift-handoff-case", args=[first.pk]), handoff_data(first, to_user=other_agent.pk)
    )
    assert response["Location"] == reverse("escalations:shift-handoff-case", args=[second.pk])
    response = client.post(
        reverse("escalations:shift-handoff-case", args=[second.pk]), handoff_data(second, to_user=other_agent.pk)
    )
    assert response["Location"] == reverse("escalations:shift-handoff-done")
    assert "✔ Shift handed off" in text(client.get(response["Location"]))
    assert HandoffPacket.objects.filter(from_user=agent, status="offered").count() == 2


# --- Time zone ---------------------------------------------------------------------------------------


def test_profile_sets_the_zone_times_are_shown_in(client, agent, make_incident):
    incident = make_incident()
    login(client, agent)
    response = client.post(reverse("escalations:profile"), {"timezone": "America/New_York"})
    assert response.status_code == 302
    assert StaffProfile.objects.get(user=agent).timezone == "America/New_York"
    body = text(client.get(case_url(incident)))
    assert "America/New_York" in body
    assert "Due 20 Nov 05:05" not in body  # S2: acknowledge due 10:30 UTC = 05:30 New York
    assert "Due 20 Nov 05:30 America/New_York" in body
    bad = client.post(reverse("escalations:profile"), {"timezone": "Mars/Olympus"})
    assert bad.status_code == 400


# --- CSRF --------------------------------------------------------------------------------------------


def test_posts_without_csrf_token_are_refused(agent, make_incident):
    from django.test import Client

    incident = make_incident()
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    for url, data in (
        (case_url(incident, "acknowledge"), {}),
        (case_url(incident, "pause"), {"version": 1, "reason": "customer", "note": "x"}),
        (reverse("escalations:case-create"), {"title": "x"}),
    ):
        assert client.post(url, data).status_code == 403
    assert Incident.objects.get().acknowledged_at is None
    # Every form on the case page carries a token.
    body = client.get(case_url(incident)).content.decode()
    assert body.count('method="post"') == body.count('name="csrfmiddlewaretoken"') > 5


def test_an_expired_handoff_says_so_and_who_it_was_escalated_to(
    client, agent, other_agent, team, oncall, make_incident, _frozen
):
    from escalations.choices import Stage

    incident = make_incident(team=team)
    handoff_offer(
        incident=incident, actor=agent, now=T0, to_stage=Stage.TRIAGE, to_user=other_agent,
        summary="Checkout down", customer_impact="EU orders fail", next_steps="Check the gateway",
    )  # fmt: skip
    page = text(login(client, other_agent).get(case_url(incident)))
    assert "Waiting for" in page and "expired" not in page
    sweep_run(now=T0 + timedelta(minutes=16), source="test")  # S2 acceptance time box: 15 minutes
    _frozen.move_to(T0 + timedelta(minutes=17), tick=False)
    page = text(client.get(case_url(incident)))
    assert "Waiting for" not in page and "⌛ Not accepted in time" in page
    assert "escalated to level 1" in page and oncall["dm"].get_full_name() in page
    inbox = text(client.get(reverse("escalations:pages")))
    assert "⌛ Not accepted in time" in inbox and "escalated to level 1" in inbox


def test_refusals_name_the_field_by_its_label_and_only_allowed_stages_are_offered(
    client, agent, other_agent, make_incident
):
    incident = make_incident(stage_dri=agent)
    body = text(login(client, agent).get(case_url(incident)))
    handoff_stages = re.search(r'<select name="to_stage".*?</select>', body, re.S).group(0)
    assert 'value="triage"' in handoff_stages and 'value="command"' in handoff_stages
    assert 'value="fix"' not in handoff_stages and 'value="verify"' not in handoff_stages
    response = client.post(
        case_url(incident, "handoff"), handoff_data(incident, to_user=other_agent.pk, to_stage="fix")
    )
    body = text(response)
    assert response.status_code == 400
    assert "to_stage" not in body.split('id="form-errors"')[1].split("</section>")[0]
    assert "<strong>For the stage</strong>:" in body


def test_moving_a_stage_back_asks_why_and_puts_it_on_the_timeline(client, agent, make_incident):
    from escalations.services import incident_set_stage
    from tests.integration.api_support import row_counts

    incident = make_incident(stage_dri=agent)
    tick_all(incident, agent, stage="triage")
    incident = incident_set_stage(incident=incident.pk, stage="command", actor=agent, now=T0)
    page = text(login(client, agent).get(case_url(incident)))
    stage_form = page[page.index('id="action-stage"') :]
    stage_form = stage_form[: stage_form.index("</details>")]
    assert 'name="reason"' in stage_form and "Only when moving back to an earlier stage" in stage_form

    before = row_counts()
    refused = client.post(case_url(incident, "stage"), {"version": incident.version, "stage": "triage", "reason": ""})
    assert refused.status_code == 400
    assert "✖ Reason for moving back: Say why the case moves back from Command to Triage." in text(refused)
    assert row_counts() == before

    moved = client.post(
        case_url(incident, "stage"),
        {"version": incident.version, "stage": "triage", "reason": "The customer reports a second symptom"},
    )
    assert moved.status_code == 302
    page = text(client.get(moved["Location"]))
    assert "Stage is now Triage (Support Duty Manager)." in page
    timeline = page[page.index('id="timeline"') :]
    assert "Moved back from Command to Triage: The customer reports a second symptom" in timeline


def test_timeline_renders_labels_durations_and_local_times(client, agent, make_incident):
    from escalations.services import incident_change_severity

    StaffProfile.objects.create(user=agent, timezone="Europe/Berlin")
    incident = make_incident(arr_at_risk=0)  # S3
    incident_change_severity(incident=incident, severity="S1", reason="CEO call", actor=agent, now=T0)
    html = text(login(client, agent).get(case_url(incident))).split('id="timeline"')[1]
    seen = re.sub(r"<[^>]+>", "", html)  # what a person reads
    assert "Acknowledge target: 4h 00m → 5m 00s" in seen and "Severity set by: — → Set by a person" in seen
    assert "Ack due at: 20 Nov 2026 15:00:00 → 20 Nov 2026 11:05:00" in seen  # Berlin: UTC+1
    assert "_seconds" not in seen and "_at:" not in seen and "+00:00" not in seen and "T10:00" not in seen


def test_a_case_from_an_unagreed_channel_is_logged_on_an_agreed_one_from_its_page(
    client, agent, make_incident, unagreed_channel, email_channel
):
    incident = make_incident(channel=unagreed_channel)
    body = text(login(client, agent).get(case_url(incident)))
    assert "Clocks not started" in body and 'id="action-log-channel"' in body
    response = client.post(
        reverse("escalations:case-log-channel", args=[incident.pk]),
        {"version": incident.version, "channel": email_channel.pk},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.channel == email_channel and incident.clock_started_at is not None
    body = text(client.get(case_url(incident)))
    assert "Clocks not started" not in body and "Logged on agreed channel Support email" in body
    # An unagreed channel is not offered and is refused.
    refused = client.post(
        reverse("escalations:case-log-channel", args=[incident.pk]),
        {"version": incident.version, "channel": unagreed_channel.pk},
    )
    assert refused.status_code == 400


def form_token_of(html: str, form_id: str = "") -> str:
    scope = html.split(f'id="{form_id}"', 1)[1] if form_id else html
    return re.search(r'name="form_token" value="([0-9a-f-]{36})"', scope).group(1)


def test_a_repeated_intake_post_opens_one_case_and_shows_the_first(client, agent, customer, email_channel):
    page = text(login(client, agent).get(reverse("escalations:case-create")))
    data = intake_data(customer, email_channel, action="create", form_token=form_token_of(page))
    first = client.post(reverse("escalations:case-create"), data)
    again = client.post(reverse("escalations:case-create"), data)  # Back + resubmit, or a replay
    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]
    assert Incident.objects.count() == 1
    assert "already sent" in text(client.get(again["Location"]))


def test_a_refused_post_frees_its_token_for_the_corrected_form(client, agent, customer, email_channel):
    page = text(login(client, agent).get(reverse("escalations:case-create")))
    token = form_token_of(page)
    refused = client.post(reverse("escalations:case-create"), {"action": "create", "form_token": token})
    assert refused.status_code == 400 and Incident.objects.count() == 0
    fixed = client.post(
        reverse("escalations:case-create"), intake_data(customer, email_channel, action="create", form_token=token)
    )
    assert fixed.status_code == 302 and Incident.objects.count() == 1


def test_a_repeated_customer_update_posts_once(client, agent, make_incident):
    incident = make_incident()
    page = text(login(client, agent).get(case_url(incident)))
    data = {"version": incident.version, "body": "We found it", "form_token": form_token_of(page, "action-update")}
    assert client.post(case_url(incident, "update"), data).status_code == 302
    assert client.post(case_url(incident, "update"), data).status_code == 302
    assert CustomerUpdate.objects.filter(incident=incident).count() == 1
