"""The managers' handoff audit in real headless Chromium: from the Review landing page
to the handoff list, a filter, a packet as offered, the case's full audit and packet
quality. Screenshots go to docs/screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from escalations.services import (
    customer_update_post,
    handoff_accept,
    handoff_offer,
    handoff_reject,
    incident_acknowledge,
    incident_change_severity,
)
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PACKET = {
    "summary": "EU card payments fail at checkout",
    "customer_impact": "No EU orders since 09:40",
    "next_steps": "Roll back gateway 4.2",
}


def test_a_manager_audits_handoffs_a_case_and_packet_quality(
    signed_in, live_server, manager, agent, other_agent, team, make_incident
):
    now = timezone.now() - timedelta(hours=1)
    case = incident_acknowledge(incident=make_incident(team=team, title="EU checkout down"), actor=agent, now=now)
    customer_update_post(incident=case, body="We are rolling back the gateway.", channel=None, actor=agent, now=now)
    first = handoff_offer(incident=case.pk, actor=agent, now=now + timedelta(minutes=2), to_stage=case.stage,
                          to_user=other_agent, **PACKET)  # fmt: skip
    handoff_accept(handoff=first, actor=other_agent, now=now + timedelta(minutes=9))
    refused = handoff_offer(incident=case.pk, actor=other_agent, now=now + timedelta(minutes=20),
                            to_stage=case.stage, to_user=manager, **PACKET)  # fmt: skip
    handoff_reject(handoff=refused, actor=manager, now=now + timedelta(minutes=22), reason="Not my queue")
    incident_change_severity(incident=case, severity="S1", reason="Every EU checkout fails", actor=manager,
                             now=now + timedelta(minutes=30))  # fmt: skip

    page = signed_in(manager)
    page.click("nav >> text=Review")
    page.click("text=Handoff audit")
    rows = page.locator("#handoffs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Rejected")
    expect(rows.nth(1)).to_contain_text("7m 00s")  # time to accept
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "manage-handoffs.png"), full_page=True)

    page.select_option("#id_outcome", label="Accepted")
    page.click("#handoff-filters button[type=submit]")
    expect(rows).to_have_count(1)
    rows.first.locator("a").first.click()
    expect(page.locator("body")).to_contain_text("EU card payments fail at checkout")
    expect(page.locator("body")).to_contain_text("Accepted")

    page.goto(f"{live_server.url}/manage/cases/{case.pk}/audit/")
    audit = page.locator("#case-audit")
    for text in ("Case opened", "Handoff accepted", "Handoff rejected", "Not my queue", "Customer update on"):
        expect(audit).to_contain_text(text)
    expect(audit).to_contain_text("Every EU checkout fails")
    expect(audit).not_to_contain_text("severity_reason")
    page.screenshot(path=str(SCREENSHOTS / "manage-case-audit.png"), full_page=True)

    page.goto(f"{live_server.url}/manage/")
    page.click("text=Packet quality")
    expect(page.locator("#quality-overall")).to_contain_text("2 packets offered")
    expect(page.locator("#quality-reasons")).to_contain_text("not my queue")
    page.screenshot(path=str(SCREENSHOTS / "manage-quality.png"), full_page=True)
