"""Sign-in resists guessing, tokens expire and are revoked, sessions time out when idle,
the security headers are sent, and every change to access is audited with its actor.

Live: real requests through the whole middleware stack (axes, CSP, sessions) on the real
database; the clock moves with time_machine."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.crypto import hash_token
from rest_framework.test import APIClient

from escalations.accounts.lockout import client_ip
from escalations.models import AccessAction, AccessEvent, ApiToken
from escalations.security import roles
from escalations.services.tokens import token_create
from tests.conftest import T0
from tests.factories import UserFactory
from tests.integration.api_support import _api_test_env, assert_error

__all__ = ["_api_test_env"]

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery"
TOKEN_URL = "/api/v1/auth/token/"
LIST = "/api/v1/incidents/"


@pytest.fixture(autouse=True)
def _no_auth_throttle(settings):
    # The per-address throttle on the token endpoint is another guard with its own
    # tests (test_api_intake.py); here only axes may refuse.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "1000/min"},
    }


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def superuser(playbook):
    return UserFactory(username="root_admin", is_staff=True, is_superuser=True)


def web_login(client: Client, username: str, password: str, *, address: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def token_request(username: str, password: str, *, address: str = "10.0.0.1"):
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


def fail(n: int, username: str, *, address: str = "10.0.0.1") -> None:
    for i in range(n):
        response = web_login(Client(), username, "wrong password", address=address)
        # The form again with its error; the failure that reaches the limit is answered
        # with the lockout at once.
        assert response.status_code == (429 if i == settings.AXES_FAILURE_LIMIT - 1 else 200)


# --- lockout ----------------------------------------------------------------------------


def test_a_username_is_locked_after_repeated_failures_and_says_for_how_long(agent, clock):
    fail(settings.AXES_FAILURE_LIMIT - 1, agent.username, address="10.0.0.1")
    # From another address (not locked), with the right password: still allowed.
    assert web_login(Client(), agent.username, PASSWORD, address="10.0.0.9").status_code == 302
    fail(settings.AXES_FAILURE_LIMIT, agent.username, address="10.0.0.2")
    # Now even the right password from a fresh address is refused, with a clear message.
    response = web_login(Client(), agent.username, PASSWORD, address="10.0.0.3")
    assert response.status_code == 429
    assert "locked. Try again in 15 minutes." in response.content.decode()
    assert response["Retry-After"] == str(15 * 60)
    clock.move_to(T0 + timedelta(minutes=10))
    assert (
        "Try again in 5 minutes." in web_login(Client(), agent.username, PASSWORD, address="10.0.0.3").content.decode()
    )
    # Refused tries during the lockout do not extend it: it ends when it said it would.
    clock.move_to(T0 + timedelta(minutes=15, seconds=1))
    assert web_login(Client(), agent.username, PASSWORD, address="10.0.0.3").status_code == 302


def test_an_address_is_locked_whatever_username_it_tries(agent, other_agent, clock):
    for name in ("a", "b", "c", "d", "e")[: settings.AXES_FAILURE_LIMIT]:
        web_login(Client(), name, "guess", address="10.0.0.7")
    response = web_login(Client(), other_agent.username, PASSWORD, address="10.0.0.7")
    assert response.status_code == 429 and "Try again in" in response.content.decode()
    # The same person from elsewhere is fine: their username was never guessed at.
    assert web_login(Client(), other_agent.username, PASSWORD, address="10.0.0.8").status_code == 302


def test_the_admin_login_is_locked_too(manager, clock):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(url, {"username": manager.username, "password": "nope"}, REMOTE_ADDR="10.0.1.1")
    response = Client().post(url, {"username": manager.username, "password": PASSWORD}, REMOTE_ADDR="10.0.1.2")
    assert response.status_code == 429 and "Try again in 15 minutes." in response.content.decode()


def test_the_token_endpoint_is_locked_in_the_api_shape(agent, clock):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert_error(token_request(agent.username, "nope"), 400, field="non_field_errors")
    assert_error(token_request(agent.username, "nope"), 429, code="locked_out")
    response = token_request(agent.username, PASSWORD, address="10.0.2.2")
    error = assert_error(response, 429, code="locked_out")
    assert "Try again in 15 minutes." in error["message"] and response["Retry-After"] == "900"
    assert not ApiToken.objects.filter(user=agent).exists()
    # Failures on the API and the web count together.
    clock.move_to(T0 + timedelta(minutes=16))
    assert token_request(agent.username, PASSWORD).status_code == 200


def test_an_admin_reset_lifts_the_lock_and_is_audited(agent, superuser, clock):
    fail(settings.AXES_FAILURE_LIMIT, agent.username)
    assert web_login(Client(), agent.username, PASSWORD, address="10.0.0.5").status_code == 429
    admin = Client()
    admin.force_login(superuser)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin.get(changelist)
    assert page.status_code == 200 and "Locked Out" in page.content.decode()
    attempts = list(AccessAttempt.objects.filter(username=agent.username).values_list("pk", flat=True))
    response = admin.post(changelist, {"action": "reset_lockouts", "_selected_action": attempts})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username=agent.username).exists()
    assert web_login(Client(), agent.username, PASSWORD, address="10.0.0.5").status_code == 302
    (event,) = AccessEvent.objects.filter(action=AccessAction.LOCKOUT_RESET)
    assert event.actor == superuser and event.subject_name == agent.username and event.at == T0


def test_the_client_address_comes_from_the_proxy_only_behind_one(settings, rf):
    request = rf.get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.1.1.1")
    settings.BEHIND_TLS_PROXY = False
    assert client_ip(request) == "10.9.9.9"  # a header a client can forge is ignored
    settings.BEHIND_TLS_PROXY = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_ip(request) == "10.1.1.1"  # the entry our one proxy appended
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 2}
    assert client_ip(request) == "203.0.113.5"  # two proxies: the outer one's entry
    assert client_ip(rf.get("/", REMOTE_ADDR="10.9.9.9")) == "10.9.9.9"


def test_a_lockout_behind_the_proxy_follows_the_client_not_the_proxy(settings, agent, other_agent, clock):
    settings.BEHIND_TLS_PROXY = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def via_proxy(username, password, client_address):
        return Client().post(
            reverse("login"),
            {"username": username, "password": password},
            REMOTE_ADDR="10.0.0.254",  # the proxy
            HTTP_X_FORWARDED_FOR=client_address,
        )

    for name in ("a", "b", "c", "d", "e")[: settings.AXES_FAILURE_LIMIT]:
        via_proxy(name, "guess", "198.51.100.7")
    assert via_proxy(other_agent.username, PASSWORD, "198.51.100.7").status_code == 429
    # Everyone else behind the same proxy can still sign in.
    assert via_proxy(other_agent.username, PASSWORD, "198.51.100.8").status_code == 302


# --- tokens -----------------------------------------------------------------------------


def test_a_token_from_the_endpoint_expires(agent, clock):
    response = token_request(agent.username, PASSWORD)
    assert response.status_code == 200
    body = response.json()
    key = body["token"]
    ttl = timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    assert ApiToken.objects.get(digest=hash_token(key)).expiry == T0 + ttl
    assert body["expiry"].startswith((T0 + ttl).date().isoformat())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    clock.move_to(T0 + ttl - timedelta(seconds=1))
    assert client.get(LIST).status_code == 200
    clock.move_to(T0 + ttl + timedelta(seconds=1))
    assert assert_error(client.get(LIST), 401)["message"] == "Token has expired."


def test_superusers_get_no_token_with_a_password(superuser):
    assert_error(token_request(superuser.username, PASSWORD), 403, code="not_allowed")
    assert not ApiToken.objects.exists()
    # The operator can still issue one, and it expires.
    out = StringIO()
    call_command("token_create", superuser.username, "--hours", "2", stdout=out, stderr=StringIO())
    token = ApiToken.objects.get(digest=hash_token(out.getvalue().strip()))
    assert token.user == superuser and token.expiry is not None


def test_a_password_change_revokes_every_token(agent, superuser):
    keys = [token_request(agent.username, PASSWORD).json()["token"] for _ in range(2)]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {keys[0]}")
    assert client.get(LIST).status_code == 200
    # Through the admin's password form, as an administrator would.
    admin = Client()
    admin.force_login(superuser)
    new = "a much longer new passphrase"
    response = admin.post(
        reverse("admin:auth_user_password_change", args=[agent.pk]),
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert assert_error(client.get(LIST), 401)["message"] == "Invalid token."
    assert not ApiToken.objects.filter(user=agent).exists()
    changed = AccessEvent.objects.get(action=AccessAction.PASSWORD_CHANGED)
    assert changed.subject == agent and changed.actor == superuser
    revoked = AccessEvent.objects.filter(action=AccessAction.TOKEN_REVOKED, subject=agent)
    assert revoked.count() == 2 and all(e.actor == superuser for e in revoked)
    # The revoked tokens' history names who revoked them.
    gone = ApiToken.history.filter(user_id=agent.pk, history_type="-")
    assert gone.count() == 2 and {h.history_user_id for h in gone} == {superuser.pk}


def test_saving_a_user_without_a_new_password_revokes_nothing(agent):
    token_create(user=agent, actor=agent)
    agent.first_name = "Alicia"
    agent.save()
    assert ApiToken.objects.filter(user=agent).count() == 1


def test_integration_tokens_are_issued_listed_and_revoked_in_the_admin(integration, agent, superuser):
    admin = Client()
    admin.force_login(superuser)
    add = reverse("admin:escalations_apitoken_add")
    # Only integration accounts can be picked.
    assert_form = admin.get(add).content.decode()
    assert integration.username in assert_form and agent.username not in assert_form
    response = admin.post(add, {"user": integration.pk, "name": "Datadog production", "lifetime_days": ""})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = re.search(
        r'id="issued-token" value="([^"]+)"|value="([^"]+)"[^>]*id="issued-token"', response.content.decode()
    )
    key = next(group for group in key.groups() if group)
    token = ApiToken.objects.get(digest=hash_token(key))
    assert token.name == "Datadog production" and token.user == integration
    assert token.expiry.date() == (timezone.now() + timedelta(days=settings.INTEGRATION_TOKEN_TTL_DAYS)).date()
    created = AccessEvent.objects.get(action=AccessAction.TOKEN_CREATED, subject=integration)
    assert created.actor == superuser and "Datadog production" in created.detail
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert bot.get(LIST).status_code == 403  # authenticated; intake-only role
    listing = admin.get(reverse("admin:escalations_apitoken_changelist") + "?integration=yes").content.decode()
    assert "Datadog production" in listing and token.token_key in listing and key not in listing
    response = admin.post(reverse("admin:escalations_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert_error(bot.get(LIST), 401)
    revoked = AccessEvent.objects.get(action=AccessAction.TOKEN_REVOKED, subject=integration)
    assert revoked.actor == superuser


def test_integration_create_puts_the_account_in_the_integrations_role(playbook):
    out = StringIO()
    call_command("integration_create", "pager-bot", "--name", "Pager", "--days", "0", stdout=out, stderr=StringIO())
    user = User.objects.get(username="pager-bot")
    assert user.groups.filter(name=roles.INTEGRATIONS).exists() and not user.has_usable_password()
    token = ApiToken.objects.get(digest=hash_token(out.getvalue().strip()))
    assert token.name == "Pager" and token.expiry is None  # --days 0: chosen explicitly


# --- sessions and passwords -----------------------------------------------------------


def test_a_session_ends_after_eight_idle_hours_not_eight_hours_of_work(agent, clock):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    client = Client()
    assert web_login(client, agent.username, PASSWORD).status_code == 302
    queue = reverse("escalations:queue")
    # Working: a page every two hours keeps the session alive past eight hours.
    for hours in (2, 4, 6, 8, 10):
        clock.move_to(T0 + timedelta(hours=hours))
        assert client.get(queue).status_code == 200, hours
    # Idle for more than eight hours: signed out.
    clock.move_to(T0 + timedelta(hours=18, minutes=1))
    response = client.get(queue)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_passwords_need_twelve_characters(agent):
    with pytest.raises(ValidationError):
        validate_password("Xk7#pq2!Lm9", user=agent)  # 11
    validate_password("Xk7#pq2!Lm9z", user=agent)  # 12


# --- headers and the API docs -----------------------------------------------------------


def test_pages_send_csp_and_permissions_policy(agent, client):
    client.force_login(agent)
    for url in (reverse("login"), reverse("escalations:queue"), "/api/v1/incidents/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert "camera=()" in response["Permissions-Policy"]


def test_no_inline_script_is_left_in_the_templates():
    root = Path(settings.BASE_DIR)
    for template in [*root.glob("templates/**/*.html"), *root.glob("escalations/templates/**/*.html")]:
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (template, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template


def test_the_schema_and_docs_need_a_login(agent):
    anonymous = APIClient()
    assert anonymous.get("/api/schema/").status_code == 401
    docs = Client().get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith(reverse("login"))
    client = Client()
    client.force_login(agent)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>" not in html  # the start-up script comes from its own URL
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    response = client.get(script)
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()
    assert client.get("/api/schema/").status_code == 200


# --- audit of users and groups ----------------------------------------------------------


def test_role_and_permission_changes_are_audited_with_the_actor(agent, superuser):
    admin = Client()
    admin.force_login(superuser)
    managers = Group.objects.get(name=roles.MANAGERS)
    response = admin.get(reverse("admin:auth_user_change", args=[agent.pk]))
    assert response.status_code == 200
    form = response.context["adminform"].form
    data = {
        name: (value if value is not None else "")
        for name, value in form.initial.items()
        if name not in ("password", "last_login", "date_joined", "groups", "user_permissions")
    }
    data.update(
        {
            "date_joined_0": agent.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": agent.date_joined.strftime("%H:%M:%S"),
            "groups": [g.pk for g in agent.groups.all()] + [managers.pk],
            "user_permissions": [],
            "is_active": "on",
        }
    )
    response = admin.post(reverse("admin:auth_user_change", args=[agent.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    latest = agent.history.latest()
    assert latest.history_user == superuser
    assert managers.pk in {row.group_id for row in latest.groups.all()}
    assert "password" not in {f.name for f in latest._meta.get_fields()}
    # A group's permissions are audited too.
    response = admin.get(reverse("admin:auth_group_change", args=[managers.pk]))
    perms = list(managers.permissions.values_list("pk", flat=True))[:-1]
    response = admin.post(
        reverse("admin:auth_group_change", args=[managers.pk]), {"name": managers.name, "permissions": perms}
    )
    assert response.status_code == 302
    group_history = managers.history.latest()
    assert group_history.history_user == superuser
    assert {row.permission_id for row in group_history.permissions.all()} == set(perms)


def test_a_sign_in_writes_no_user_history(agent):
    before = agent.history.count()
    assert web_login(Client(), agent.username, PASSWORD).status_code == 302
    assert agent.history.count() == before
