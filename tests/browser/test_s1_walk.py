"""An S1 walked from intake to closed in real headless Chromium, through every stage the
playbook names: the agent takes it in (data risk → S1), acknowledges, works triage and
names the Incident Commander and the bridge; the commander (a Manager) runs command, fix
and verify, ticking each stage's required items as they come, starts the RCA on its page
(scheduled at once, so Verify's "RCA scheduled" item is met), resolves from Verify and
closes. Each step asserts what the page shows. The RCA page goes to docs/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from escalations.models import ChecklistItem, Incident, Postmortem
from escalations.services.postmortems import rca_due_at
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tick(page: Page, text: str) -> None:
    page.click(f"button[aria-label='Tick {text}']")
    expect(page.locator(".messages")).to_contain_text(f"✔ Done: {text}")
    expect(current_play(page).locator("li", has_text=text)).to_have_class("done")


def current_play(page: Page):
    # The current stage's checklist is the one open on the page.
    return page.locator("details.play-row[open]")


def move_stage(page: Page, label: str) -> None:
    page.click("#action-stage summary")
    page.select_option("#action-stage select[name=stage]", label=label)
    page.click("#action-stage button[type=submit]")


def resolve(page: Page, resolution: str) -> None:
    page.click("#action-resolve summary")
    page.fill("#action-resolve textarea[name=resolution]", resolution)
    page.click("#action-resolve button[type=submit]")


def test_an_s1_walks_from_intake_through_every_stage_to_closed(
    signed_in, live_server, agent, manager, customer, email_channel, team
):
    # --- intake: data risk makes it an S1
    page = signed_in(agent)
    page.click("text=New case")
    page.fill("#id_title", "Exports show other tenants' invoices")
    page.select_option("#id_customer", label="Acme Corp")
    page.select_option("#id_channel", label="Support email")
    page.select_option("#id_team", label="Support EMEA")
    page.check("#id_data_risk")
    expect(page.locator("#severity-preview")).to_contain_text("S1: Data risk")
    page.click("button[value=create]")
    incident = Incident.objects.get()
    case_url = f"{live_server.url}/cases/{incident.pk}/"
    expect(page.locator(".messages")).to_contain_text(f"Created {incident.reference}")
    expect(page.locator("h1 .sev")).to_have_text("S1")
    expect(page.locator("#case-status")).to_have_text("New")
    expect(page.locator("#case-stage")).to_have_text("Triage (Support Duty Manager)")
    expect(current_play(page).locator("summary")).to_contain_text("S1 first hour (triage)")

    # --- acknowledge
    page.click("#action-ack button[name=acknowledge]")
    expect(page.locator(".messages")).to_contain_text(f"Acknowledged {incident.reference}")
    expect(page.locator("#case-status")).to_have_text("Acknowledged")
    expect(page.locator("#case-dri")).to_have_text("Alice_Agent")
    expect(current_play(page).locator("li", has_text="Acknowledge the page")).to_have_class("done")

    # --- triage: the first update, the impact confirmed, then the move is still refused
    # until the commander and the bridge are named (items that tick themselves).
    page.click("#action-update summary")
    page.fill("#action-update textarea[name=body]", "Exports are paused while we investigate.")
    page.click("#action-update button[name=post_update]")
    expect(page.locator(".messages")).to_contain_text("Customer update logged.")
    expect(current_play(page).locator("li", has_text="First customer update sent")).to_have_class("done")
    tick(page, "Impact facts confirmed with the customer")

    move_stage(page, "Command (Incident Commander)")
    errors = page.locator("#form-errors")
    expect(errors).to_contain_text("Cannot leave this stage")
    expect(errors).to_contain_text("Incident Commander named")
    expect(errors).to_contain_text("Incident bridge opened and linked")
    expect(page.locator("#case-stage")).to_have_text("Triage (Support Duty Manager)")

    page.goto(case_url)
    page.click("#action-details summary")
    page.select_option("#action-details select[name=commander]", label="Mia_Manager (mia_manager)")
    page.fill("#action-details input[name=bridge_url]", "https://meet.example.com/exports-s1")
    page.click("button[name=save_details]")
    expect(page.locator(".messages")).to_contain_text("Case details saved.")
    expect(page.locator("#case-commander")).to_have_text("Mia_Manager")
    expect(page.locator(".facts")).to_contain_text("https://meet.example.com/exports-s1")
    for text in ("Incident Commander named", "Incident bridge opened and linked"):
        expect(current_play(page).locator("li", has_text=text)).to_have_class("done")

    move_stage(page, "Command (Incident Commander)")
    expect(page.locator(".messages")).to_contain_text("Stage is now Command (Incident Commander).")
    expect(page.locator("#case-stage")).to_have_text("Command (Incident Commander)")
    expect(current_play(page).locator("summary")).to_contain_text("S1 command")

    # --- command, fix and verify: the commander takes over
    commander = signed_in(manager)
    commander.goto(case_url)
    expect(commander.locator("#case-stage")).to_have_text("Command (Incident Commander)")
    tick(commander, "Eng Fix Lead engaged")
    tick(commander, "Workaround assessed")
    move_stage(commander, "Fix (Eng Fix Lead)")
    expect(commander.locator(".messages")).to_contain_text("Stage is now Fix (Eng Fix Lead).")
    expect(commander.locator("#case-dri")).to_have_text("Mia_Manager")
    expect(current_play(commander).locator("summary")).to_contain_text("S1 fix")

    tick(commander, "Root cause hypothesis written down")
    tick(commander, "Fix deployed")
    move_stage(commander, "Verify and close")
    expect(commander.locator(".messages")).to_contain_text("Stage is now Verify and close.")
    expect(commander.locator("#case-stage")).to_have_text("Verify and close")
    verify = current_play(commander)
    expect(verify.locator("summary")).to_contain_text("S1 verify and close")
    expect(verify.locator("li", has_text="RCA scheduled")).to_contain_text("ticks itself when an rca is scheduled")

    tick(commander, "Customer confirmed restoration")
    resolve(commander, "Tenant filter restored on the export job.")
    expect(commander.locator("#form-errors")).to_contain_text("Cannot resolve the case")
    expect(commander.locator("#form-errors")).to_contain_text("RCA scheduled")
    expect(commander.locator("#case-status")).to_have_text("Acknowledged")

    # --- the RCA, started on its page before resolve, is scheduled at once
    commander.goto(case_url)
    commander.click("#case-rca-link")
    expect(commander.locator("#rca-none")).to_contain_text("you may also start one here")
    commander.fill("#rca-form textarea[name=summary]", "Exports ignored the tenant filter for 40 minutes.")
    commander.fill("#rca-form textarea[name=root_cause]", "A query refactor dropped the tenant condition.")
    commander.click("button[name=save_rca]")
    expect(commander.locator(".messages")).to_contain_text("RCA saved.")
    rca = Postmortem.objects.get(incident=incident)
    started = rca.history.earliest("history_date").history_date
    assert rca.due_at == rca_due_at(Incident.objects.get(pk=incident.pk), start=started)
    expect(commander.locator("#rca-due")).to_have_text(f"{rca.due_at:%-d %b %Y %H:%M}")
    expect(commander.locator("#rca-status")).to_have_text("Draft")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    commander.screenshot(path=str(SCREENSHOTS / "rca-started.png"), full_page=True)

    commander.click(".crumbs a")  # back to the case
    rca_item = current_play(commander).locator("li", has_text="RCA scheduled")
    expect(rca_item).to_have_class("done")
    expect(rca_item).to_contain_text("✔ Mia_Manager")

    # --- resolve from Verify, then close
    resolve(commander, "Tenant filter restored on the export job.")
    expect(commander.locator(".messages")).to_contain_text("Case resolved.")
    expect(commander.locator("#case-status")).to_have_text("Resolved")
    expect(commander.locator("#case-stage")).to_have_text("Verify and close")
    commander.click("#action-close summary")
    commander.click("#action-close button[type=submit]")
    expect(commander.locator(".messages")).to_contain_text("Case closed.")
    expect(commander.locator("#case-status")).to_have_text("Closed")

    closed = Incident.objects.get(pk=incident.pk)
    assert (closed.status, closed.stage, closed.commander) == ("closed", "verify", manager)
    # The due date is the one the RCA got when it was started: resolving kept it.
    assert Postmortem.objects.get(incident=incident).due_at == rca.due_at
    assert not ChecklistItem.objects.filter(checklist__incident=incident, required=True, done_at__isnull=True)
    timeline = commander.locator("#timeline")
    for label in ("Stage changed", "Resolved", "Closed"):
        expect(timeline).to_contain_text(label)
