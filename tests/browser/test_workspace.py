"""The CS workspace in real headless Chromium: intake of an S1 with its 5-minute
acknowledge countdown, acknowledge, a customer update, the checklist, a handoff accepted
by a second person, two editors in conflict, a breach appearing in the queue, and the
escalation it caused acknowledged from the paging inbox.
Screenshots of the queue and the case page go to docs/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from escalations.models import Incident
from escalations.services import customer_update_post, incident_acknowledge, incident_create, incident_pause
from escalations.services.engine.sweep import sweep_run
from tests.browser.conftest import SCREENSHOTS
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_opens_s1_acknowledges_updates_ticks_and_hands_off(
    signed_in, live_server, agent, other_agent, customer, email_channel, team
):
    page = signed_in(agent)
    page.click("text=New case")
    page.fill("#id_title", "Exports leak other tenants' data")
    page.select_option("#id_customer", label="Acme Corp")
    page.select_option("#id_channel", label="Support email")
    page.select_option("#id_team", label="Support EMEA")
    page.fill("#id_arr_at_risk", "120000")
    page.check("#id_data_risk")
    # Live preview (JavaScript) …
    expect(page.locator("#severity-preview")).to_contain_text("S1: Data risk")
    # … and the no-JavaScript path: the "Check severity" button re-renders with the result.
    page.click("button[value=check]")
    expect(page.locator("#severity-preview")).to_contain_text("Triggers give S1: Data risk")
    expect(page.locator("#id_data_risk")).to_be_checked()
    assert not Incident.objects.exists()
    page.click("button[value=create]")

    incident = Incident.objects.get()
    expect(page.locator(".messages")).to_contain_text(f"Created {incident.reference}")
    ack = page.locator(".clock-box").first.locator(".clock")
    expect(ack).to_have_attribute("data-state", "running")
    remaining = ack.locator(".clock-remaining")
    expect(remaining).to_have_text(re.compile(r"^(4m [0-5]\ds|5m 00s) left$"))
    first = remaining.text_content()
    expect(remaining).not_to_have_text(first, timeout=3000)  # the ticker counts down

    page.click("#action-ack button[name=acknowledge]")
    expect(page.locator(".messages")).to_contain_text(f"Acknowledged {incident.reference}")
    expect(page.locator("#case-status")).to_have_text("Acknowledged")
    expect(page.locator(".clock-box").first).to_contain_text("✔ met")

    page.click("#action-update summary")  # actions are compact buttons that open their form in place
    page.fill("#action-update textarea[name=body]", "We have isolated the export job and are verifying.")
    page.click("#action-update button[name=post_update]")
    expect(page.locator(".messages")).to_contain_text("Customer update logged.")
    expect(page.locator("#next-update-due")).to_be_visible()

    # The acknowledgement and the update ticked their own items, with who and when.
    triage = page.locator("details.play-row[open]")
    for text in ("Acknowledge the page", "First customer update sent"):
        row = triage.locator("li", has_text=text)
        expect(row).to_have_class("done")
        expect(row).to_contain_text("✔ Alice_Agent")
    # "Incident Commander named" ticks itself once there is one: no box to tick by hand.
    expect(triage.locator("li", has_text="Incident Commander named")).to_contain_text("ticks itself when")
    expect(page.locator("button[aria-label='Tick Incident Commander named']")).to_have_count(0)
    page.click("button[aria-label='Tick Impact facts confirmed with the customer']")
    expect(page.locator(".messages")).to_contain_text("✔ Done: Impact facts confirmed with the customer")

    form = page.locator("#handoff-form")
    expect(form.locator("textarea[name=summary]")).to_have_value(re.compile("^Exports leak other tenants' data"))
    form.locator("select[name=to_user]").select_option(label="Bob_Agent (bob_agent)")
    form.locator("textarea[name=hypothesis]").fill("A cache key without the tenant id.")
    form.locator("button[name=offer]").click()
    expect(page.locator(".messages")).to_contain_text("Handoff offered to bob_agent")
    expect(page.locator("#pending-handoff")).to_contain_text("A cache key without the tenant id.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)

    receiver = signed_in(other_agent)
    receiver.goto(f"{live_server.url}/cases/{incident.pk}/")
    receiver.click("button[name=accept]")
    expect(receiver.locator(".messages")).to_contain_text("Handoff accepted")
    expect(receiver.locator("#case-dri")).to_have_text("Bob_Agent")
    incident.refresh_from_db()
    assert incident.stage_dri == other_agent


def test_two_editors_second_save_sees_the_conflict(signed_in, live_server, agent, other_agent, team, make_incident):
    incident = incident_acknowledge(
        incident=make_incident(now=timezone.now(), team=team), actor=agent, now=timezone.now()
    )
    url = f"{live_server.url}/cases/{incident.pk}/"
    first, second = signed_in(agent), signed_in(other_agent)
    first.goto(url)
    second.goto(url)

    first.click("#action-details summary")
    first.select_option("#action-details select[name=sentiment]", label="Negative")
    first.click("button[name=save_details]")
    expect(first.locator(".messages")).to_contain_text("Case details saved.")

    # A change to something else (the sentiment) does not make the pause stale.
    second.click("#action-pause summary")
    second.fill("#action-pause textarea[name=note]", "Waiting for the customer's HAR file")
    second.click("#action-pause button[type=submit]")
    expect(second.locator(".paused-banner")).to_contain_text("‖ paused — waiting on customer since")
    expect(second.locator(".paused-banner")).to_contain_text("by Bob_Agent")

    # The first editor's page predates the pause: pausing from it is a conflict.
    first.click("#action-pause summary")
    first.fill("#action-pause textarea[name=note]", "Waiting on the vendor's fix")
    first.click("#action-pause button[type=submit]")
    conflict = first.locator("#conflict")
    expect(conflict).to_contain_text("This case was changed by someone else since you opened it")
    expect(conflict).to_contain_text("Status")
    expect(conflict).to_contain_text("Waiting on customer")
    expect(first.locator("#action-resume")).to_be_visible()  # the page shows the case as it is now
    assert Incident.objects.get().pauses.count() == 1  # nothing saved on the stale version


def test_breach_appears_in_the_queue(
    signed_in, live_server, agent, other_agent, duty_manager, customer, email_channel, team
):
    page = signed_in(agent)
    now = timezone.now()
    globex, initech = CustomerFactory(name="Globex"), CustomerFactory(name="Initech")

    def open_case(title, ago, **facts):
        at = timezone.now()
        return incident_create(
            actor=agent,
            title=title,
            customer=facts.pop("customer", customer),
            channel=email_channel,
            now=at,
            reported_at=at - ago,
            team=team,
            **facts,
        )

    breached = open_case("Invoices show wrong currency", timedelta(minutes=7), customer=globex, legal_risk=True)
    acknowledged = open_case("Dashboard timeouts in EU", timedelta(minutes=20), customer=initech, arr_at_risk=90000)
    incident_acknowledge(incident=acknowledged, actor=other_agent, now=now - timedelta(minutes=12))
    customer_update_post(
        incident=acknowledged,
        body="Mitigation in progress",
        channel=None,
        actor=other_agent,
        now=now - timedelta(minutes=10),
    )
    waiting = open_case("CSV import rejects UTF-8 BOM", timedelta(minutes=40), customer=globex)
    incident_acknowledge(incident=waiting, actor=agent, now=timezone.now() - timedelta(minutes=6))
    incident_pause(
        incident=waiting,
        reason="customer",
        note="Waiting for a sample file",
        actor=agent,
        now=now - timedelta(minutes=5),
    )
    open_case(
        "Webhook retries duplicated", timedelta(minutes=2), customer=initech, arr_at_risk=55000, stage_dri=duty_manager
    )

    # Opened last, just before the page loads: its 5-minute acknowledge deadline is 6 s away.
    about_to_breach = open_case("Login failing for SSO users", timedelta(minutes=4, seconds=54), data_risk=True)
    sweep_run(now=timezone.now(), source="test")  # records the breach and the warning, as the beat would
    page.goto(f"{live_server.url}/?queue=all")
    # Breached first, then warning, then running by nearest deadline; paused last.
    rows = page.locator("table.queue tbody tr").all_inner_texts()
    position = {ref: next(i for i, row in enumerate(rows) if ref in row) for ref in
                (breached.reference, about_to_breach.reference, acknowledged.reference, waiting.reference)}  # fmt: skip
    assert (
        position[breached.reference]
        < position[about_to_breach.reference]
        < position[acknowledged.reference]
        < position[waiting.reference]
        == len(rows) - 1
    ), rows
    row = page.locator("tr", has_text=about_to_breach.reference)
    ack = row.locator("td").nth(5).locator(".clock")
    expect(ack).to_have_attribute("data-state", "warning")
    expect(ack).to_contain_text("⚠ warning")
    # The deadline passes while the page is open: the row flips to breached, in words.
    expect(ack).to_have_attribute("data-state", "breached", timeout=15_000)
    expect(ack).to_contain_text("✖ breached")
    expect(ack).to_contain_text("overdue")

    page.click("text=Breached / at risk")
    expect(page.locator("table.queue")).to_contain_text(breached.reference)
    expect(page.locator("table.queue")).to_contain_text(about_to_breach.reference)
    expect(page.locator("tr", has_text=breached.reference).locator(".clock").first).to_contain_text("✖ breached")
    expect(page.locator("table.queue")).not_to_contain_text(waiting.reference)  # paused, not at risk

    page.click("text=All open")
    expect(page.locator("tr", has_text=waiting.reference).locator(".clock").nth(1)).to_contain_text("‖ paused")
    page.fill("input[name=q]", "globex")
    page.click("button:has-text('Filter')")
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    page.click("text=Clear")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)


def test_a_replayed_intake_form_opens_no_second_case(signed_in, live_server, agent, customer, email_channel):
    page = signed_in(agent)
    page.goto(f"{live_server.url}/cases/new/")
    page.fill("#id_title", "Exports leak other tenants' data")
    page.select_option("#id_customer", label="Acme Corp")
    page.select_option("#id_channel", label="Support email")
    # The form exactly as the browser would send it again (Back + resubmit, a replay).
    fields = page.evaluate("() => Object.fromEntries(new FormData(document.getElementById('intake-form')).entries())")
    page.click("button[value=create]")
    incident = Incident.objects.get()
    expect(page.locator(".messages")).to_contain_text(f"Created {incident.reference}")
    replay = page.request.post(f"{live_server.url}/cases/new/", form={**fields, "action": "create"}, max_redirects=0)
    assert replay.status == 302 and replay.headers["location"].endswith(f"/cases/{incident.pk}/")
    assert Incident.objects.count() == 1
    page.goto(f"{live_server.url}{replay.headers['location']}")
    expect(page.locator(".messages")).to_contain_text("already sent")


def test_case_page_facts_clocks_problem_and_actions_above_the_fold(signed_in, live_server, agent, team, make_incident):
    incident = make_incident(
        now=timezone.now(),
        team=team,
        data_risk=True,
        stage_dri=agent,
        description="Since 09:40 every card payment fails at the last step for EU customers. " * 3,
    )
    customer_update_post(
        incident=incident, body="We are on it; next update by 11:00.", channel=None, actor=agent, now=timezone.now()
    )
    page = signed_in(agent, width=1280, height=800)
    page.goto(f"{live_server.url}/cases/{incident.pk}/")
    for selector in (".facts", "#problem", "#latest-update", "#clocks", ".action-bar", "#action-resolve"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, (selector, box)
    # Only the current stage's checklist is open; the others are folded.
    current = page.locator("details.play-row[open]")
    expect(current).to_have_count(1)
    expect(current.locator("summary")).to_contain_text("current stage")
    # An action opens its form in place.
    expect(page.locator("#action-update textarea[name=body]")).to_be_hidden()
    page.click("#action-update summary")
    expect(page.locator("#action-update textarea[name=body]")).to_be_visible()
    # The triggers put this case at S1, their floor: an agent has no severity to move it
    # to (lower is a Manager's decision), so no severity form is offered.
    expect(page.locator("#action-severity")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "case-above-the-fold.png"))


def test_paging_inbox_and_shift_rota_screens(signed_in, live_server, agent, duty_manager, team, make_incident):
    from tests.engine_support import roster

    now = timezone.now()
    roster(now=now, team=team, duty_manager=duty_manager, commander=duty_manager)
    make_incident(now=now, team=team, data_risk=True, title="Exports leak other tenants' data")
    make_incident(now=now, team=team, title="Practice: login outage", is_drill=True, actor=duty_manager)
    page = signed_in(duty_manager, width=1280, height=800)
    page.goto(f"{live_server.url}/pages/")
    rows = page.locator("#pages tbody tr")
    expect(rows).to_have_count(1)  # one page per person, whatever roles it reached them in
    expect(rows.first).to_contain_text("as duty manager and commander")
    expect(page.locator("#drill-pages")).to_contain_text("Practice: login outage")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "pages.png"), full_page=True)
    page.click("text=Shift rota")
    expect(page.locator("#rota")).to_contain_text("Support EMEA")
    page.screenshot(path=str(SCREENSHOTS / "rota.png"), full_page=True)


def test_a_rung_is_acknowledged_from_the_paging_inbox(signed_in, live_server, agent, duty_manager, team, make_incident):
    from tests.engine_support import roster

    now = timezone.now()
    roster(now=now - timedelta(hours=2), team=team, duty_manager=duty_manager)
    incident = make_incident(now=now - timedelta(minutes=70), team=team, title="Invoices stuck in Pending")  # S2
    incident_acknowledge(incident=incident, actor=agent, now=now - timedelta(minutes=69))
    sweep_run(now=now, source="test")  # the first customer update is 10 minutes late: level 1
    page = signed_in(duty_manager, width=1280, height=800)
    page.goto(f"{live_server.url}/pages/")
    row = page.locator("#pages tbody tr", has_text="Escalation L1")
    expect(row).to_contain_text("Acknowledge within 30m 00s, or it goes to level 2")
    row.locator("button[name=acknowledge_escalation]").click()
    expect(page.locator("ul.messages")).to_contain_text(f"The escalation chain of {incident.reference} stops climbing")
    row = page.locator("#pages tbody tr", has_text="Escalation L1")
    expect(row).to_contain_text("✔ level 1 acknowledged by Dana_Dm")
    expect(row).not_to_contain_text("● New")
    incident.refresh_from_db()
    assert incident.next_escalation_at is None


def test_an_expired_handoff_reads_as_expired_with_whom_it_escalated_to(
    signed_in, live_server, agent, other_agent, duty_manager, team, make_incident
):
    from escalations.choices import Stage
    from escalations.services import handoff_offer
    from tests.engine_support import roster

    now = timezone.now()
    roster(now=now - timedelta(minutes=30), team=team, duty_manager=duty_manager)
    incident = make_incident(now=now - timedelta(minutes=20), team=team, stage_dri=agent)
    handoff_offer(
        incident=incident, actor=agent, now=now - timedelta(minutes=20), to_stage=Stage.TRIAGE, to_user=other_agent,
        summary="Checkout down", customer_impact="EU orders fail", next_steps="Check the gateway",
    )  # fmt: skip
    sweep_run(now=now, source="test")  # the 15-minute acceptance time box has passed
    page = signed_in(other_agent)
    page.goto(f"{live_server.url}/cases/{incident.pk}/")
    pending = page.locator("#pending-handoff")
    expect(pending).to_contain_text("expired")
    expect(pending).to_contain_text("⌛ Not accepted in time")
    expect(pending).to_contain_text("escalated to level 1")
    expect(pending).to_contain_text("Dana_Dm")
    expect(pending).not_to_contain_text("Waiting for")
    page.goto(f"{live_server.url}/pages/")
    expect(page.locator("#handoff-inbox")).to_contain_text("⌛ Not accepted in time")
