"""POST /api/v1/intake/ (integrations, idempotent on external_id), the integration
command, token issuing, and throttling."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from knox.crypto import hash_token
from rest_framework.test import APIClient

from escalations.models import ApiToken, CaseEvent, ChecklistItem, Incident
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

INTAKE = "/api/v1/intake/"


@pytest.fixture
def bot(playbook):
    out = StringIO()
    call_command("integration_create", "monitoring-bot", stdout=out, stderr=StringIO())
    key = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = get_user_model().objects.get(username="monitoring-bot")
    return client


def signal(customer, **extra):
    return {
        "title": "Error rate > 5 %",
        "customer": customer.pk,
        "channel": "monitoring",
        "external_id": "pd-123",
        "users_affected_pct": "12",
        **extra,
    }


def test_integration_command_issues_a_token_for_a_user_who_cannot_log_in(playbook):
    out = StringIO()
    call_command("integration_create", "crm-bot", stdout=out, stderr=StringIO())
    user = get_user_model().objects.get(username="crm-bot")
    (token,) = ApiToken.objects.filter(user=user)
    assert token.digest == hash_token(out.getvalue().strip())  # only the digest is stored
    assert not user.has_usable_password()
    assert user.has_perm("escalations.submit_intake")
    assert not user.has_perm("escalations.view_incident") and not user.has_perm("escalations.add_incident")
    rotated = StringIO()
    call_command("integration_create", "crm-bot", "--rotate", stdout=rotated, stderr=StringIO())
    assert rotated.getvalue().strip() != out.getvalue().strip()


def test_intake_opens_a_case_as_the_integration(bot, customer, clock):
    response = bot.post(INTAKE, signal(customer), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get(pk=body["id"])
    # The answer links to the case and tells nothing of its contents.
    assert body == {
        "id": incident.pk,
        "reference": incident.reference,
        "status": "new",
        "url": f"{settings.SITE_URL}/cases/{incident.pk}/",
    }
    assert incident.severity == "S1" and incident.external_id == "pd-123"
    assert incident.created_by == bot.user
    assert incident.history.get().history_user == bot.user
    # Every row of a real intake is written: checklists, events, history.
    assert ChecklistItem.objects.filter(checklist__incident=incident).exists()
    assert CaseEvent.objects.filter(incident=incident).count() >= 2


def test_the_same_external_id_returns_the_existing_case(bot, customer, clock):
    first = bot.post(INTAKE, signal(customer), format="json")
    before = row_counts()
    again = bot.post(INTAKE, signal(customer, title="Error rate > 5 % (repeat)"), format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert row_counts() == before
    other_channel = bot.post(INTAKE, signal(customer, channel="crm"), format="json")
    assert other_channel.status_code == 201 and other_channel.json()["id"] != first.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_racing_open_one_case_and_both_get_it(bot, customer):
    """Two deliveries of one signal at the same moment, each on its own connection: the
    unique constraint lets one case through; the other answers 200 with that case."""
    key = bot._credentials["HTTP_AUTHORIZATION"]
    barrier = threading.Barrier(2)
    answers: list[tuple[int, int]] = []

    def deliver() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=key)
        barrier.wait()
        try:
            response = client.post(INTAKE, signal(customer), format="json")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    [case] = Incident.objects.filter(external_id="pd-123")
    assert sorted(code for code, _ in answers) == [200, 201]
    assert {pk for _, pk in answers} == {case.pk}
    assert Incident.history.filter(external_id="pd-123").count() == 1


def test_an_integration_reads_nothing_back(bot, customer, clock):
    created = bot.post(INTAKE, signal(customer, arr_at_risk="1234.5", data_risk=True), format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    for path in (
        "/api/v1/incidents/",
        f"/api/v1/incidents/{pk}/",
        f"/api/v1/incidents/{pk}/timeline/",
        f"/api/v1/incidents/{pk}/handoffs/",
        "/api/v1/breaches/",
    ):
        assert_error(bot.get(path), 403)
    assert_error(bot.post("/api/v1/incidents/", signal(customer), format="json"), 403)


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_drill", True), ("severity", "S4"), ("team", "team"), ("commander", "agent"), ("stage_dri", "agent")],
)
def test_an_integration_may_not_choose_severity_owners_team_or_a_drill(bot, customer, clock, field, value, agent, team):
    value = {"team": team.pk, "agent": agent.pk}.get(value, value) if isinstance(value, str) else value
    before = row_counts()
    response = bot.post(INTAKE, signal(customer, data_risk=True, **{field: value}), format="json")
    assert_error(response, 400, field=field, code="not_for_integrations")
    assert row_counts() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "   "}, "external_id"),
        ({"external_id": None}, "external_id"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"channel": "nope"}, "channel"),
        ({"title": None}, "title"),
        ({"reported_at": "2999-01-01T00:00:00Z"}, "reported_at"),
    ],
)
def test_intake_refusals_change_nothing(bot, customer, clock, change, field):
    before = row_counts()
    assert_error(bot.post(INTAKE, {**signal(customer), **change}, format="json"), 400, field=field)
    assert row_counts() == before


def test_intake_without_external_id_is_refused(bot, customer, clock):
    payload = signal(customer)
    del payload["external_id"]
    assert_error(bot.post(INTAKE, payload, format="json"), 400, field="external_id", code="required")


def test_intake_needs_the_integration_role(engineer, customer, clock):
    before = row_counts()
    assert_error(client_for(engineer).post(INTAKE, signal(customer), format="json"), 403)
    assert_error(client_for(None).post(INTAKE, signal(customer), format="json"), 401)
    assert row_counts() == before


def test_intake_is_throttled(bot, customer, clock, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"intake": "2/min", "auth": "20/min"},
    }
    assert bot.post(INTAKE, signal(customer, external_id="a"), format="json").status_code == 201
    assert bot.post(INTAKE, signal(customer, external_id="b"), format="json").status_code == 201
    before = row_counts()
    response = bot.post(INTAKE, signal(customer, external_id="c"), format="json")
    assert_error(response, 429, code="throttled")
    assert int(response["Retry-After"]) > 0
    assert row_counts() == before


@pytest.fixture(params=["locmem", "redis"])
def throttle_cache(request, settings):
    """The throttles' counters in the per-process cache, and in Redis as production
    keeps them (CACHE_URL)."""
    if request.param == "redis":
        base, _, _db = settings.REDIS_URL.rpartition("/")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"{base}/14",
                "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
            }
        }
    yield request.param


def test_throttle_counts_in_fixed_windows(bot, customer, clock, settings, throttle_cache):
    """One counter per client and minute: refused until the minute ends (Retry-After
    says when), then allowed again."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"intake": "1/min", "auth": "20/min"},
    }
    start = T0.replace(second=15, microsecond=0)
    clock.move_to(start)
    assert bot.post(INTAKE, signal(customer, external_id="a"), format="json").status_code == 201
    refused = bot.post(INTAKE, signal(customer, external_id="b"), format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 45
    clock.move_to(start + timedelta(seconds=44))
    assert bot.post(INTAKE, signal(customer, external_id="b"), format="json").status_code == 429
    clock.move_to(start + timedelta(seconds=46))  # the next minute
    assert bot.post(INTAKE, signal(customer, external_id="b"), format="json").status_code == 201
    if throttle_cache == "redis":  # each window's counter expires with its window
        from django.core.cache import cache

        client = cache._cache.get_client(write=True)
        keys = client.keys(f"*{settings.CACHES['default']['KEY_PREFIX']}*")
        assert len(keys) == 2 and all(0 < client.ttl(key) <= 61 for key in keys)
        assert sorted(int(client.get(key)) for key in keys) == [1, 3]


# --- tokens -------------------------------------------------------------------------------


def test_token_endpoint(agent):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": agent.username, "password": "correct-horse-battery"}, format="json"
    )
    assert response.status_code == 200, response.content
    key = response.json()["token"]
    assert ApiToken.objects.get(user=agent).digest == hash_token(key)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/incidents/").status_code == 200
    assert_error(
        APIClient().post("/api/v1/auth/token/", {"username": agent.username, "password": "wrong"}, format="json"),
        400,
        field="non_field_errors",
    )
    assert_error(
        APIClient().post("/api/v1/auth/token/", {"username": agent.username}, format="json"), 400, field="password"
    )


def test_token_endpoint_is_throttled(agent, settings, clock):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"intake": "100/min", "auth": "3/min"},
    }
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json").status_code == 400
    assert_error(
        client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json"), 429, code="throttled"
    )


def test_session_authentication_works_for_the_browser(agent, make_incident, clock):
    make_incident()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get("/api/v1/incidents/").json()["count"] == 1
    # Session writes need the CSRF token, as in the web app.
    assert_error(client.post("/api/v1/incidents/", {}, format="json"), 403)


def test_input_serializers_bind_their_own_fields(playbook, customer):
    """StrictInputSerializer copies its declared fields shallowly per instance: each
    instance binds its own, and validating one never shows in another."""
    from escalations.api.serializers import IntakeIn

    first = IntakeIn(data={"title": "A", "customer": customer.pk, "channel": "monitoring", "external_id": " x "})
    second = IntakeIn(data={"title": "", "customer": 10**9, "channel": "nope", "external_id": ""})
    assert first.is_valid(), first.errors
    assert not second.is_valid()
    assert set(second.errors) >= {"title", "customer", "channel", "external_id"}
    assert first.validated_data["external_id"] == "x" and first.validated_data["customer"] == customer
    for name, field in first.fields.items():
        assert field is not second.fields[name] and field is not IntakeIn._declared_fields[name]
        assert field.parent is first and second.fields[name].parent is second
