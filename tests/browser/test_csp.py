"""The Content-Security-Policy in a real browser: the workspace, the admin and the API
docs run their scripts with no CSP violation (no inline script or handler left), and an
injected inline script is refused."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    return refused


def test_pages_run_their_scripts_without_csp_violations(signed_in, live_server, manager, make_incident):
    incident = make_incident(now=timezone.now())
    page = signed_in(manager)
    refused = _watch(page)
    page.goto(f"{live_server.url}/cases/{incident.pk}/")
    # app.js (a static file) ran: it ticks the clocks' remaining time every second.
    remaining = page.locator(".clock-remaining").first
    first = remaining.text_content()
    page.wait_for_timeout(2100)
    assert remaining.text_content() != first
    for path in (
        "/",
        "/cases/new/",
        "/admin/",
        f"/admin/auth/user/{manager.pk}/change/",
        "/admin/escalations/apitoken/",
    ):
        page.goto(f"{live_server.url}{path}")
    # Swagger UI starts from its own script URL and renders the operations.
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    assert refused == []
    # The policy is enforced: an inline script is refused.
    page.goto(f"{live_server.url}/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.append(s); }"
    )
    assert page.evaluate("() => window.__ran") is None
    assert any("Content Security Policy" in text for text in refused)
