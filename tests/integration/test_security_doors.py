"""Doors that must refuse without telling more than they should, and the workspace's
smaller rules: out-of-range weeks on the review page and API, owners an API client may
not pick, intake keys that belong to one integration, one-time form tokens that the
server requires, team moves that follow the owner rule, and password change and reset
pages for everyone."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from escalations.models import Incident
from tests.factories import TeamFactory
from tests.integration.api_support import _api_test_env, client_for, clock, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db


# --- Review weeks out of range ------------------------------------------------------------------


@pytest.mark.parametrize("week", ["0001-W01", "0999-W01", "1000-W30", "9999-W52", "2025-W53", "2026-W99"])
def test_an_impossible_week_is_a_message_on_the_page_and_a_400_in_the_api(client, manager, week):
    client.force_login(manager)
    page = client.get(reverse("escalations:manage-review"), {"week": week})
    assert page.status_code == 200  # the message on the field, the last complete week shown
    body = page.content.decode()
    api = client_for(manager).get("/api/v1/metrics/weekly/", {"week": week})
    assert api.status_code == 400
    message = api.json()["error"]["fields"]["week"][0]
    assert message in body.replace("&#x27;", "'")


# --- Owners an API client may not pick ------------------------------------------------------------


def test_an_owner_who_may_not_own_a_case_reads_as_an_unknown_id(agent, policy_admin, customer, email_channel, clock):
    probe = get_user_model().objects.create(username="probe-integration")
    call_command("integration_create", "crm-bot", stdout=StringIO(), stderr=StringIO())
    integration = get_user_model().objects.get(username="crm-bot")
    unknown = get_user_model().objects.order_by("-pk").first().pk + 1000
    answers = {}
    for label, pk in (
        ("policy", policy_admin.pk),
        ("probe", probe.pk),
        ("integration", integration.pk),
        ("x", unknown),
    ):
        response = client_for(agent).post(
            "/api/v1/incidents/",
            {"title": "Probe", "customer": customer.pk, "channel": email_channel.slug, "stage_dri": pk},
            format="json",
        )
        assert response.status_code == 400
        answers[label] = response.json()["error"]["fields"]["stage_dri"][0].replace(str(pk), "N")
    assert len(set(answers.values())) == 1, answers
    assert "pat_policy" not in str(answers) and "cannot work cases" not in str(answers)


# --- Intake keys belong to the integration -----------------------------------------------------------


def _integration(name: str) -> APIClient:
    out = StringIO()
    call_command("integration_create", name, stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


def test_another_integrations_external_id_never_returns_its_case(playbook, customer, clock):
    crm, monitoring = _integration("crm-bot"), _integration("monitoring-bot")
    signal = {"title": "Checkout down", "customer": customer.pk, "channel": "email", "external_id": "demo-3"}
    first = crm.post("/api/v1/intake/", signal, format="json")
    assert first.status_code == 201
    other = monitoring.post("/api/v1/intake/", {**signal, "title": "Probe"}, format="json")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert Incident.objects.get(pk=other.json()["id"]).title == "Probe"
    before = row_counts()
    again = crm.post("/api/v1/intake/", signal, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert row_counts() == before


# --- One-time form tokens are required -----------------------------------------------------------------


def test_a_workspace_post_without_its_token_is_refused_and_changes_nothing(make_incident, agent, team):
    case = make_incident(team=team)
    web = Client()
    web.force_login(agent)
    before = row_counts()
    for token in ("", "not-a-uuid"):
        response = web.post(
            reverse("escalations:case-update", args=[case.pk]),
            {"version": case.version, "body": "We found it", "form_token": token},
        )
        assert response.status_code == 400 and "one-time token" in response.content.decode()
    assert row_counts() == before


def test_a_refused_post_leaves_no_trace_of_its_token(make_incident, agent, team):
    case = make_incident(team=team)
    web = Client()
    web.force_login(agent)
    before = row_counts()
    response = web.post(reverse("escalations:case-update", args=[case.pk]), {"version": case.version, "body": ""})
    assert response.status_code == 400
    assert row_counts() == before


# --- Moving a case to another team follows the owner rule -----------------------------------------------


def test_a_team_member_may_not_move_the_case_to_another_team(make_incident, agent, other_agent, team, manager):
    elsewhere = TeamFactory(name="Elsewhere", slug="elsewhere", members=[agent])
    case = make_incident(team=team, stage_dri=other_agent)
    before = row_counts()
    refused = client_for(agent).patch(f"/api/v1/incidents/{case.pk}/", {"team": elsewhere.pk}, format="json")
    assert refused.status_code == 403
    assert "offer a handoff" in refused.json()["error"]["fields"]["team"][0]
    assert row_counts() == before
    moved = client_for(manager).patch(f"/api/v1/incidents/{case.pk}/", {"team": elsewhere.pk}, format="json")
    assert moved.status_code == 200 and Incident.objects.get(pk=case.pk).team == elsewhere


def test_anyone_who_may_change_a_case_without_a_team_may_put_it_in_one(make_incident, agent, other_agent, team):
    case = make_incident(stage_dri=other_agent)
    answer = client_for(agent).patch(f"/api/v1/incidents/{case.pk}/", {"team": team.pk}, format="json")
    assert answer.status_code == 200 and Incident.objects.get(pk=case.pk).team == team


# --- Password change and reset for everyone ------------------------------------------------------------


def test_anyone_signed_in_changes_their_password(agent):
    agent.set_password("old-password-123")
    agent.save()
    web = Client()
    web.force_login(agent)
    assert 'href="/accounts/password/"' in web.get(reverse("escalations:profile")).content.decode()
    page = web.get(reverse("password_change"))
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    done = web.post(
        reverse("password_change"),
        {
            "old_password": "old-password-123",
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )
    assert done.status_code == 302 and done["Location"] == reverse("password_change_done")
    agent.refresh_from_db()
    assert agent.check_password("a-new-long-passphrase")


def test_a_password_is_reset_by_email_with_a_link_to_this_site(agent, settings):
    agent.email = "alice@example.com"
    agent.save()
    anonymous = Client()
    assert 'href="/accounts/password/reset/"' in anonymous.get(reverse("login")).content.decode()
    sent = anonymous.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert sent.status_code == 302
    # An unknown address answers the same and sends nothing.
    assert anonymous.post(reverse("password_reset"), {"email": "nobody@example.com"}).status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"(http\S+/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    assert link.startswith(settings.SITE_URL)
    path = link.removeprefix(settings.SITE_URL)
    form = anonymous.get(path, follow=True)
    assert form.status_code == 200 and "Set a new password" in form.content.decode()
    done = anonymous.post(
        form.redirect_chain[-1][0] if form.redirect_chain else path,
        {"new_password1": "reset-long-passphrase", "new_password2": "reset-long-passphrase"},
    )
    assert done.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password("reset-long-passphrase")
