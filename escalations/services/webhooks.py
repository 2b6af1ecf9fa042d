"""Outgoing webhooks: how a delivery is signed, and the one function that sends.

Every send first checks its URL (``lib.addresses.webhook_address_check``: public
addresses only, unless the host is in ``WEBHOOK_ALLOWED_HOSTS``) and then connects to the
addresses that check resolved, never to a fresh DNS answer, so a name that answers
"public" to the check and "127.0.0.1" a moment later (DNS rebinding) still cannot reach
inside.

Deliveries are signed the Standard Webhooks way (https://www.standardwebhooks.com/):
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` with the team's own secret (``whsec_<base64 key>``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket

import requests
from django.conf import settings
from django.db import transaction
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from escalations.lib.addresses import webhook_address_check
from escalations.models import Team
from escalations.models.org import webhook_secret_new
from escalations.services.common import audited_save

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"


class WebhookSendFailed(Exception):
    """The request did not complete. The message is ours, never the receiver's words."""


# --- Signing ---------------------------------------------------------------------------


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`` keyed with the
    decoded secret (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_signature_headers(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers. Several secrets (teams sharing one receiver
    URL) give several space-separated signatures; a receiver accepts any that verifies."""
    signatures = [webhook_signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets]
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: " ".join(signatures)}


def team_webhook_secret_rotate(*, team_id: int, actor) -> str:
    """Give the team a new signing secret and return it: the caller shows it once to
    the admin, who gives it to the receiver. The old secret stops signing at once. The
    history row names ``actor``; the secret itself is never written to history."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team_id)
        team.webhook_secret = webhook_secret_new()
        audited_save(team, actor=actor, update_fields=["webhook_secret"], reason="Rotated the webhook signing secret")
    return team.webhook_secret


# --- Sending ---------------------------------------------------------------------------


def _pinned_connection_class(base: type, addresses: tuple[str, ...]) -> type:
    """``base`` (urllib3's HTTP or HTTPS connection) connecting to ``addresses`` only,
    in order, instead of resolving the URL's host again. Everything else still uses the
    host: the Host header, TLS SNI and the certificate's name check."""

    def _new_conn(self) -> socket.socket:
        error: Exception | None = None
        for address in addresses:
            try:
                return create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options,
                )  # fmt: skip
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} ({address}) timed out.")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection to {address}: {exc}")
        raise error

    return type(f"Pinned{base.__name__}", (base,), {"_new_conn": _new_conn})


class _PinnedPoolManager(PoolManager):
    def __init__(self, addresses: tuple[str, ...], **kwargs) -> None:
        self._addresses = addresses
        super().__init__(**kwargs)

    def _new_pool(self, scheme, host, port, request_context=None) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _pinned_connection_class(pool.ConnectionCls, self._addresses)
        return pool


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, addresses: tuple[str, ...]) -> None:
        self._addresses = addresses
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = _PinnedPoolManager(
            self._addresses, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


def webhook_post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` and return the response's status code.

    Checks the address again (WebhookAddressRefused) and connects only to the addresses
    that check resolved. Follows no redirects (a redirect could point inside) and uses
    no proxy from the environment (the proxy would do its own resolving). The answer's
    body is never read: it is the receiver's, and it must not reach our records."""
    target = webhook_address_check(url)
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.WEBHOOK_CA_BUNDLE or True
    adapter = _PinnedAdapter(target.addresses)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        with session.post(
            url,
            data=body,
            headers={**headers, "Connection": "close"},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            return response.status_code
    except requests.Timeout:
        raise WebhookSendFailed(f"no answer from {target.host} within {timeout:g} s") from None
    except requests.exceptions.SSLError:
        raise WebhookSendFailed(f"TLS handshake or certificate check failed for {target.host}") from None
    except requests.ConnectionError:
        raise WebhookSendFailed(
            f"could not connect to {target.host} ({', '.join(target.addresses)}) on port {target.port}"
        ) from None
    except requests.RequestException as exc:
        raise WebhookSendFailed(f"request to {target.host} failed ({type(exc).__name__})") from None
    finally:
        session.close()


__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookSendFailed",
    "team_webhook_secret_rotate",
    "webhook_post",
    "webhook_signature",
    "webhook_signature_headers",
]
