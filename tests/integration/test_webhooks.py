"""Outgoing webhooks cannot reach inside, and each team signs its own.

Live: real receivers on loopback (127.0.0.1 and ::1) count every TCP connection they
accept, so "refused" means nothing arrived at all, not merely that we ignored an answer.
Addresses other than loopback are refused by the check alone and never sent to. The
DNS-rebinding test replaces our resolver function, which is the thing the check is made
of: it answers a public address when the team is saved and loopback when the worker
sends, and the send must be refused.
"""

from __future__ import annotations

import base64
import importlib
import re
import socket
import ssl
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.lib import addresses
from escalations.lib.addresses import WebhookAddressRefused, address_is_public, webhook_address_check
from escalations.models import Notification, Team
from escalations.services.common import system_user
from escalations.services.engine.roster import Recipient
from escalations.services.notifications import notification_build, notification_deliver
from escalations.services.webhooks import team_webhook_secret_rotate

ROOT = Path(__file__).resolve().parents[2]
TLS = ROOT / "tests" / "fixtures" / "webhook_tls"  # a test CA and a certificate for hooks.internal.test
LEAK = b"db_password=hunter2 (internal stack trace)"


class LoopbackReceiver:
    """A local HTTP server that counts accepted connections and records requests. It
    answers ``status`` with ``LEAK`` as the body, and ``location`` when set. With
    ``tls`` it serves HTTPS with the hooks.internal.test certificate and records the
    name each client asked for (SNI)."""

    def __init__(self, host: str = "127.0.0.1", tls: bool = False) -> None:
        self.connections = 0
        self.requests: list[dict] = []
        self.server_names: list[str | None] = []
        self.status = 200
        self.location: str | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(LEAK)))
                self.end_headers()
                self.wfile.write(LEAK)

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def verify_request(self, request, client_address) -> bool:
                with receiver.lock:
                    receiver.connections += 1
                return True

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS / "leaf.pem", TLS / "leaf.key")
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str, path: str = "/hook") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Iterator[Callable[[str], LoopbackReceiver]]:
    made: list[LoopbackReceiver] = []

    def make(host: str = "127.0.0.1", tls: bool = False) -> LoopbackReceiver:
        made.append(LoopbackReceiver(host, tls))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def case(make_incident, team):
    return make_incident(team=team)


def _hook_row(case, url: str, now, key: str = "hook:1") -> Notification:
    """The outbox row the sweep writes for the team's chat webhook."""
    row = notification_build(
        incident=case,
        recipient=Recipient(NotificationChannel.WEBHOOK, None, url, "chat"),
        kind="escalation",
        key=key,
        subject="Escalation L1",
        text="Escalated to level 1",
        now=now,
    )
    row.save()
    return row


def _deliver(row: Notification, now) -> Notification:
    notification_deliver(notification_id=row.pk, now=now, actor=system_user())
    row.refresh_from_db()
    return row


def _point_team_at(team: Team, url: str) -> None:
    # A row saved before the rule existed (or written around the form): only the send-time
    # check stands between it and the receiver.
    team.webhook_url = url
    team.save(update_fields=["webhook_url"])


# --- Refused: live receivers on loopback get nothing -------------------------------------


@pytest.mark.parametrize(
    ("listen", "url_host"),
    [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"), ("127.0.0.1", "localhost"), ("127.0.0.1", "LOCALHOST.")],
)
def test_a_loopback_receiver_receives_nothing(case, team, now, loopback, listen, url_host, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    receiver = loopback(listen)
    url = receiver.url(url_host)

    team.webhook_url = url
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    assert "not a public address" in " ".join(refused.value.message_dict["webhook_url"])

    _point_team_at(team, url)
    row = _deliver(_hook_row(case, url, now), now)
    assert row.status == NotificationStatus.PENDING and row.attempts == 1
    assert row.last_error.startswith("WebhookAddressRefused:") and "not a public address" in row.last_error
    assert receiver.connections == 0 and receiver.requests == []


def test_the_admin_refuses_the_url_with_an_error_on_its_field(client, policy_admin, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    receiver = loopback()
    client.force_login(policy_admin)
    response = client.post(
        "/admin/escalations/team/add/",
        {"name": "Ops", "slug": "ops", "email": "", "webhook_url": receiver.url("127.0.0.1")},
    )
    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["webhook_url"] and "127.0.0.1" in errors["webhook_url"][0]
    assert not Team.objects.filter(slug="ops").exists()
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # … in hex
        "http://017700000001/",  # … in octal
        "http://127.1/",  # … shortened
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",  # multicast
    ],
)
def test_internal_address_literals_are_refused(team, url, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(WebhookAddressRefused, match="not a public address"):
        webhook_address_check(url)
    team.webhook_url = url
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    assert list(refused.value.message_dict) == ["webhook_url"]


@pytest.mark.parametrize("answer", [["10.0.0.7"], ["192.168.4.2"], ["93.184.215.14", "10.0.0.7"]])
def test_names_resolving_inside_are_refused(team, monkeypatch, answer, settings):
    """Every address of the name must be public: one internal answer is enough to refuse."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    monkeypatch.setattr(addresses, "address_resolve", lambda host, port: answer)
    team.webhook_url = "https://intranet.example.com/hooks/1"
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    [message] = refused.value.message_dict["webhook_url"]
    assert f"intranet.example.com resolves to {answer[-1]}, which is not a public address" in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://no-such-host.invalid/", "does not resolve"),
        ("http://example.com:99999/", "cannot be parsed"),
    ],
)
def test_other_bad_urls_are_refused(url, reason):
    with pytest.raises(WebhookAddressRefused, match=reason):
        webhook_address_check(url)


def test_public_addresses_pass_and_inside_ones_do_not():
    for address in ("93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14"):
        assert address_is_public(address), address
    for address in ("127.0.0.1", "::1", "10.0.0.1", "::ffff:10.0.0.1", "2002:a00:1::", "239.1.1.1", "ff0e::1"):
        assert not address_is_public(address), address


def test_rebinding_a_name_after_the_check_is_refused_at_send(case, team, now, loopback, monkeypatch, settings):
    """The name answers a public address when the team is saved, loopback when the
    worker sends: the send checks again and refuses; the receiver gets nothing."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    receiver = loopback()
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    asked = []

    def rebinding(host, port):
        asked.append(host)
        return next(answers)

    monkeypatch.setattr(addresses, "address_resolve", rebinding)
    url = receiver.url("rebind.example.test")
    team.webhook_url = url
    team.full_clean()  # passes: the name looked public
    team.save()
    row = _deliver(_hook_row(case, url, now), now)
    assert asked == ["rebind.example.test", "rebind.example.test"]
    assert "resolves to 127.0.0.1" in row.last_error and row.status == NotificationStatus.PENDING
    assert receiver.connections == 0


def test_the_send_connects_to_the_checked_address_with_the_names_host_header(
    case, team, now, loopback, monkeypatch, settings
):
    """An allowed on-premises name that only our resolver knows: the request can only
    arrive if the connection goes to the address the check resolved (no second lookup,
    which real DNS would fail), and it still says which host it is for."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["Chat.Internal.test"]
    receiver = loopback()
    calls = []

    def resolver(host, port):
        calls.append((host, port))
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "address_resolve", resolver)
    url = receiver.url("chat.internal.test")
    team.webhook_url = url
    team.full_clean()
    team.save()
    calls.clear()
    row = _deliver(_hook_row(case, url, now), now)
    assert row.status == NotificationStatus.SENT, row.last_error
    assert calls == [("chat.internal.test", receiver.port)]  # checked once, connected there
    [request] = receiver.requests
    assert request["headers"]["host"] == f"chat.internal.test:{receiver.port}"


def test_https_connects_to_the_checked_address_and_verifies_the_names_certificate(
    make_incident, now, loopback, monkeypatch, settings
):
    """TLS to the pinned address still sends the URL's name (SNI) and checks the
    certificate against it: the right name is delivered, a wrong one and an unknown CA
    are refused by the handshake, with our words in last_error."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.internal.test", "wrong.internal.test"]
    settings.WEBHOOK_CA_BUNDLE = str(TLS / "ca.pem")
    monkeypatch.setattr(addresses, "address_resolve", lambda host, port: ["127.0.0.1"])
    receiver = loopback(tls=True)
    right, wrong = receiver.url("hooks.internal.test"), receiver.url("wrong.internal.test")
    Team.objects.create(name="Right", slug="right", webhook_url=right)
    Team.objects.create(name="Wrong", slug="wrong", webhook_url=wrong)
    case = make_incident()

    assert _deliver(_hook_row(case, right, now, key="tls:1"), now).status == NotificationStatus.SENT
    assert receiver.server_names == ["hooks.internal.test"]
    assert receiver.requests[0]["headers"]["host"] == f"hooks.internal.test:{receiver.port}"

    row = _deliver(_hook_row(case, wrong, now, key="tls:2"), now)
    assert row.last_error == "WebhookSendFailed: TLS handshake or certificate check failed for wrong.internal.test"

    settings.WEBHOOK_CA_BUNDLE = None  # the public CAs do not know the test CA
    row = _deliver(_hook_row(case, right, now, key="tls:3"), now)
    assert "TLS handshake or certificate check failed" in row.last_error
    assert len(receiver.requests) == 1


def test_an_allowed_loopback_host_is_delivered_to(case, team, now, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = loopback()
    url = receiver.url("127.0.0.1")
    team.webhook_url = url
    team.full_clean()
    team.save()
    assert _deliver(_hook_row(case, url, now), now).status == NotificationStatus.SENT
    assert len(receiver.requests) == 1
    # Allowing one spelling allows only that one: the same address written otherwise is not.
    with pytest.raises(WebhookAddressRefused):
        webhook_address_check(receiver.url("localhost"))


# --- What is recorded --------------------------------------------------------------------


def test_last_error_has_the_status_never_the_receivers_body(case, team, now, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = loopback()
    receiver.status = 500
    url = receiver.url("127.0.0.1")
    _point_team_at(team, url)
    row = _deliver(_hook_row(case, url, now), now)
    assert len(receiver.requests) == 1
    assert row.last_error == "DeliveryError: HTTP 500 from the receiver (its answer is not recorded)"
    assert "hunter2" not in row.last_error
    assert all("hunter2" not in (h.last_error or "") for h in row.history.all())


def test_a_redirect_is_not_followed(case, team, now, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    inside = loopback()
    receiver = loopback()
    receiver.status = 307
    receiver.location = inside.url("127.0.0.1", "/admin")
    url = receiver.url("127.0.0.1")
    _point_team_at(team, url)
    row = _deliver(_hook_row(case, url, now), now)
    assert "HTTP 307" in row.last_error and inside.connections == 0


def test_a_url_no_team_uses_any_more_is_not_sent_to(case, team, now, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = loopback()
    row = _deliver(_hook_row(case, receiver.url("127.0.0.1"), now), now)
    assert "no team uses this webhook URL" in row.last_error and receiver.connections == 0


# --- Signing -----------------------------------------------------------------------------


def _readme_verifier() -> Callable[..., bool]:
    """The verification snippet from the README, run as a receiver would run it."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- verify-webhook:.*?-->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README lost its webhook verification snippet"
    namespace: dict = {}
    exec(textwrap.dedent(match.group(1)), namespace)  # noqa: S102 — our own README
    return namespace["verify_webhook"]


def test_deliveries_verify_with_the_readme_snippet_and_the_teams_secret(case, team, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    verify = _readme_verifier()
    receiver = loopback()
    url = receiver.url("127.0.0.1")
    _point_team_at(team, url)
    now = timezone.now()  # the snippet refuses stale timestamps
    row = _deliver(_hook_row(case, url, now), now)
    assert row.status == NotificationStatus.SENT
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["webhook-id"] == row.idempotency_key
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
    assert "x-escalations-signature" not in headers

    assert verify(team.webhook_secret, headers, body)
    assert not verify(team.webhook_secret, headers, body + b" ")  # tampered body
    assert not verify(team.webhook_secret, {**headers, "webhook-timestamp": str(int(now.timestamp()) + 1)}, body)
    other = Team.objects.create(name="Other", slug="other")
    assert other.webhook_secret != team.webhook_secret
    assert not verify(other.webhook_secret, headers, body)
    stale = {**headers, "webhook-timestamp": str(int(now.timestamp()) - 3600)}
    assert not verify(team.webhook_secret, stale, body)


def test_teams_sharing_a_url_each_get_a_signature(case, team, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    verify = _readme_verifier()
    receiver = loopback()
    url = receiver.url("127.0.0.1")
    _point_team_at(team, url)
    other = Team.objects.create(name="Other", slug="other", webhook_url=url)
    now = timezone.now()
    _deliver(_hook_row(case, url, now), now)
    [request] = receiver.requests
    assert len(request["headers"]["webhook-signature"].split()) == 2
    assert verify(team.webhook_secret, request["headers"], request["body"])
    assert verify(other.webhook_secret, request["headers"], request["body"])


def test_rotation_gives_a_new_secret_audited_and_kept_out_of_history(case, team, policy_admin, loopback, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    verify = _readme_verifier()
    receiver = loopback()
    url = receiver.url("127.0.0.1")
    _point_team_at(team, url)
    old = team.webhook_secret
    new = team_webhook_secret_rotate(team_id=team.pk, actor=policy_admin)
    assert new != old and new.startswith("whsec_") and len(base64.b64decode(new.removeprefix("whsec_"))) == 32
    team.refresh_from_db()
    assert team.webhook_secret == new
    latest = team.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (policy_admin, "Rotated the webhook signing secret")
    assert "webhook_secret" not in {f.name for f in type(latest)._meta.get_fields()}

    now = timezone.now()
    _deliver(_hook_row(case, url, now), now)
    [request] = receiver.requests
    assert verify(new, request["headers"], request["body"])
    assert not verify(old, request["headers"], request["body"])  # the old secret stopped signing


def test_the_admin_action_rotates_and_shows_the_secret_once(client, team, policy_admin):
    old = team.webhook_secret
    client.force_login(policy_admin)
    response = client.post(
        "/admin/escalations/team/", {"action": "rotate_webhook_secret", "_selected_action": [team.pk]}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    team.refresh_from_db()
    assert team.webhook_secret != old and team.webhook_secret in response.content.decode()
    assert team.history.latest().history_user == policy_admin
    # The change form never shows it.
    page = client.get(f"/admin/escalations/team/{team.pk}/change/").content.decode()
    assert team.webhook_secret not in page and "Rotate webhook signing secret" in page


def test_the_data_migration_gives_each_existing_team_its_own_secret(team):
    others = [Team.objects.create(name=f"T{i}", slug=f"t{i}") for i in range(3)]
    Team.objects.update(webhook_secret="")  # as the rows are right after the column is added
    migration = importlib.import_module("escalations.migrations.0009_team_webhook_secret")
    migration.give_each_team_a_secret(apps, None)
    secrets = list(
        Team.objects.filter(pk__in=[team.pk, *(t.pk for t in others)]).values_list("webhook_secret", flat=True)
    )
    assert len(set(secrets)) == 4
    assert all(s.startswith("whsec_") and len(base64.b64decode(s.removeprefix("whsec_"))) == 32 for s in secrets)
