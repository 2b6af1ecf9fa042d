"""The admin as a Policy Admin sees it: every policy change carries a reason into its
history, out-of-range values are errors on their fields (not constraint names), and a
case's history page reads as a person would."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.conf import settings

from escalations.models import Incident, SeverityPolicy
from escalations.services import incident_acknowledge
from tests.factories import TeamFactory
from tests.integration.test_admin import admin_url, form_data, login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # Production defaults redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


def change_page(client, policy: SeverityPolicy) -> tuple[str, dict]:
    url = admin_url(SeverityPolicy, "change", policy.pk)
    return url, form_data(client.get(url))


def test_changing_a_policy_without_a_reason_is_a_field_error_and_saves_nothing(policy_admin):
    policy = SeverityPolicy.objects.get(key="S2")
    rows = policy.history.count()
    client = login(policy_admin)
    url, data = change_page(client, policy)
    assert data["change_reason"] == ""
    data["name"] = "Major (reviewed)"
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["change_reason"]
    assert "Say why" in str(errors["change_reason"])
    policy.refresh_from_db()
    assert policy.name == "Major"
    assert policy.history.count() == rows


def test_the_reason_lands_in_the_history_of_the_policy_and_its_chain(policy_admin):
    policy = SeverityPolicy.objects.get(key="S1")
    client = login(policy_admin)
    url, data = change_page(client, policy)
    data["name"] = "Critical (reviewed)"
    data["chain-0-wait"] = "0:01:00"
    data["change_reason"] = "Quarterly review with Support leads"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    latest = policy.history.order_by("-history_id").first()
    assert latest.history_change_reason == "Quarterly review with Support leads"
    assert latest.history_user == policy_admin
    assert latest.name == "Critical (reviewed)"
    step = policy.chain.order_by("level").first()
    assert step.wait == timedelta(minutes=1)
    step_row = step.history.order_by("-history_id").first()
    assert (step_row.history_change_reason, step_row.history_user) == (
        "Quarterly review with Support leads",
        policy_admin,
    )
    history = client.get(admin_url(SeverityPolicy, "history", policy.pk))
    assert "Quarterly review with Support leads" in history.content.decode()


def test_a_new_policy_needs_no_reason_and_is_recorded_as_created(policy_admin):
    old = SeverityPolicy.objects.get(key="S4")
    values = {
        "key": "S4",
        "rank": str(old.rank),
        "name": "Low",
        "ack_target": "4:00:00",
        "resolve_target": "72:00:00",
        "update_cadence": "24:00:00",
        "warning_pct": "75",
        "handoff_accept_within": "0:30:00",
        "calendar": str(old.calendar_id),
    }
    old.chain.all().delete()
    old.delete()
    client = login(policy_admin)
    url = admin_url(SeverityPolicy, "add")
    data = form_data(client.get(url))
    data.update(values)
    assert data["change_reason"] == ""
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    created = SeverityPolicy.objects.get(key="S4").history.get()
    assert (created.history_type, created.history_change_reason, created.history_user) == ("+", "Created", policy_admin)


def test_a_warning_share_over_100_is_an_error_on_the_warning_field(policy_admin):
    policy = SeverityPolicy.objects.get(key="S2")
    before = policy.warning_pct
    rows = policy.history.count()
    client = login(policy_admin)
    url, data = change_page(client, policy)
    data["warning_pct"] = "150"
    data["change_reason"] = "Warn later"
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["warning_pct"]
    assert "Between 1 and 100 %" in str(errors["warning_pct"])
    assert "policy_warning_pct_range" not in response.content.decode()
    policy.refresh_from_db()
    assert policy.warning_pct == before
    assert policy.history.count() == rows


def test_a_manager_reading_a_policy_is_not_asked_for_a_reason(manager):
    policy = SeverityPolicy.objects.get(key="S1")
    page = login(manager).get(admin_url(SeverityPolicy, "change", policy.pk))
    assert page.status_code == 200
    assert "Reason for the change" not in page.content.decode()


def test_the_escalation_chain_columns_are_narrowed_to_fit_the_page(policy_admin):
    """The six-column chain made the page 1,799 px wide at 1,280 px; its widgets now have
    set widths (measured in Chromium: the table ends at the content's edge)."""
    policy = SeverityPolicy.objects.get(key="S1")
    page = login(policy_admin).get(admin_url(SeverityPolicy, "change", policy.pk))
    formset = page.context["inline_admin_formsets"][0].formset
    form = formset.forms[0]
    for name in ("team", "user", "wait", "channels"):
        widget = getattr(form.fields[name].widget, "widget", form.fields[name].widget)
        assert "width:" in widget.attrs.get("style", ""), name
    assert "#chain-group .tabular td" in page.content.decode()


def test_a_case_history_page_reads_as_a_person_would(policy_admin, agent, make_incident, now):
    incident = make_incident(team=TeamFactory(name="Policy", slug="policy", members=[policy_admin]))
    assert incident.commander_id is None and incident.acknowledged_by_id is None
    acknowledged = now + timedelta(minutes=2, seconds=5, microseconds=123456)
    incident_acknowledge(incident=incident, actor=agent, now=acknowledged)
    response = login(policy_admin).get(admin_url(Incident, "history", incident.pk))
    assert response.status_code == 200
    page = response.content.decode()
    table = page[page.index('id="change-history"') :]
    assert "pk=None" not in page and "Deleted user" not in page
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", table), "microseconds shown"
    assert "+00:00" not in table
    # Labels, not column names; nobody is "—"; times to the second in the viewer's zone.
    assert "<strong>Acknowledged:</strong>" in table
    assert "acknowledged_at" not in table
    assert "<strong>Acknowledged by:</strong> —&nbsp;&rarr;&nbsp;Alice_Agent" in table
    at = acknowledged.astimezone(zoneinfo.ZoneInfo(settings.DEFAULT_VIEWER_TIMEZONE))
    assert f"{at.day} {at:%b %Y %H:%M:%S}" in table
    assert f"When ({settings.DEFAULT_VIEWER_TIMEZONE})" in table
    assert ">None<" not in table
