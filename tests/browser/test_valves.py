"""The escape valves in real headless Chromium: an agent asks for an executive from the
case page (the form opens in place), a Manager approves it on the approvals page, and
the case's timeline shows both. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from escalations.choices import ValveStatus
from escalations.models import ExecutiveEscalationRequest
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_executive_escalation_asked_on_the_case_and_approved_by_a_manager(
    signed_in, live_server, agent, manager, team, make_incident
):
    incident = make_incident(
        now=timezone.now(), team=team, severity="S1", severity_reason="The customer's CEO is on the phone"
    )
    page = signed_in(agent)
    page.goto(f"{live_server.url}/cases/{incident.pk}/")
    reason = page.locator("#action-executive textarea[name=reason]")
    expect(reason).to_be_hidden()
    page.click("#action-executive summary")
    expect(reason).to_be_visible()
    page.click("#action-executive button[type=submit]")  # no reason: refused on the field
    expect(page.locator("#action-executive .field-error")).to_contain_text("Why an executive is needed")
    page.fill("#action-executive textarea[name=reason]", "Renewal of a top-ten account at stake")
    page.click("#action-executive button[type=submit]")
    expect(page.locator("#executive-requests")).to_contain_text("Waiting for a Manager")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#valves").screenshot(path=str(SCREENSHOTS / "case-escape-valves.png"))

    boss = signed_in(manager)
    boss.goto(f"{live_server.url}/manage/approvals/")
    row = boss.locator("#executive-approvals tbody tr").first
    expect(row).to_contain_text("Renewal of a top-ten account at stake")
    boss.screenshot(path=str(SCREENSHOTS / "manage-approvals.png"), full_page=True)
    row.locator("textarea").fill("Account at risk: go")
    row.locator("button[value=approve]").click()
    expect(boss.locator("#executive-approvals")).to_contain_text("Nothing waiting.")
    assert ExecutiveEscalationRequest.objects.get(incident=incident).status == ValveStatus.APPROVED

    page.goto(f"{live_server.url}/cases/{incident.pk}/")
    expect(page.locator("#executive-requests")).to_contain_text("approved")
    expect(page.locator("#timeline")).to_contain_text("Executive escalation decided")
