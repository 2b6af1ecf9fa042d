"""Where an outgoing webhook may connect: the check of a team's webhook URL.

A team's webhook URL is typed by an admin, and the worker POSTs to it from inside our
network. A URL naming a loopback, private or link-local address would let whoever
edits teams make the worker call internal services (and read their answers back from
the outbox's ``last_error``). So every URL is checked, when a team is saved (``Team.clean``,
which is why this sits below the models) and again before each send, by
``webhook_address_check``: its host must resolve to global addresses only, unless the
host is listed in ``WEBHOOK_ALLOWED_HOSTS`` (an on-premises receiver). The send then
connects to the addresses that were checked (``services.webhooks``)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# IPv6 ranges that carry an IPv4 address inside: the IPv4 address decides where the
# packet ends up (through a NAT64 gateway or a 6to4 relay), so it must pass as well.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class WebhookAddressRefused(Exception):
    """The URL may not be sent to; the message names the URL's host and why."""


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    host: str
    port: int
    # The resolved addresses that passed the check, in the resolver's order: the only
    # addresses a delivery to this URL connects to.
    addresses: tuple[str, ...]


def address_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals in any form the C resolver
    accepts, such as ``2130706433``, come back as plain addresses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_is_public(address: str) -> bool:
    """Globally routable unicast, and so is any IPv4 address embedded in it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def _allowed_hosts() -> set[str]:
    return {h.strip().lower().strip("[]").rstrip(".") for h in settings.WEBHOOK_ALLOWED_HOSTS if h.strip()}


def webhook_address_check(url: str) -> WebhookTarget:
    """Where a webhook to ``url`` may connect, or WebhookAddressRefused.

    Resolves the host now: all its addresses must be public, unless the host (as
    written in the URL) is in WEBHOOK_ALLOWED_HOSTS. Used when a team is saved and
    before every send."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookAddressRefused("This webhook URL cannot be parsed.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookAddressRefused("A webhook URL must start with http:// or https://.")
    if parts.username is not None or parts.password is not None:
        # Credentials before the host are where URL parsers disagree about the host.
        raise WebhookAddressRefused("Put credentials in the webhook URL's path or query, not before its host.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookAddressRefused("This webhook URL has no host.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = address_resolve(host, port)
    except (OSError, UnicodeError):
        raise WebhookAddressRefused(f"The webhook host {host} does not resolve.") from None
    if not addresses:
        raise WebhookAddressRefused(f"The webhook host {host} does not resolve.")
    if host not in _allowed_hosts():
        internal = [a for a in addresses if not address_is_public(a)]
        if internal:
            raise WebhookAddressRefused(
                f"The webhook host {host} resolves to {', '.join(internal)}, which is not a public address. "
                "Webhooks go to public addresses only; an operator can allow an on-premises host with "
                "WEBHOOK_ALLOWED_HOSTS."
            )
    return WebhookTarget(url=url, host=host, port=port, addresses=tuple(addresses))
