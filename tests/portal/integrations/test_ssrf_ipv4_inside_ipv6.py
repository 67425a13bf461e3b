"""SSRF through IPv4 addresses written inside IPv6 ones: a translator (NAT64),
a tunnel (6to4, Teredo) or the host's own stack (IPv4-mapped, -compatible,
-translated) carries the packet to the IPv4 address, so the policy judges
that address. Refused at subscription and when DNS answers one at delivery."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks import delivery as webhook_delivery
from portal.integrations.webhooks import ssrf, subscriptions
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


def _v6(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


def compatible(v4: str) -> str:
    """::a.b.c.d (RFC 4291, deprecated): ``::7f00:1``."""
    return _v6(int(ipaddress.IPv4Address(v4)))


def mapped(v4: str) -> str:
    return f"::ffff:{v4}"


def translated(v4: str) -> str:
    """::ffff:0:a.b.c.d (SIIT, RFC 2765)."""
    return _v6((0xFFFF << 48) | int(ipaddress.IPv4Address(v4)))


def nat64(v4: str) -> str:
    """The well-known NAT64 prefix 64:ff9b::/96 (RFC 6052)."""
    return _v6(int(ipaddress.IPv6Address("64:ff9b::")) | int(ipaddress.IPv4Address(v4)))


def nat64_local_96(v4: str) -> str:
    """The local-use prefix 64:ff9b:1::/48 (RFC 8215), address in the last 32 bits."""
    return _v6(int(ipaddress.IPv6Address("64:ff9b:1::")) | int(ipaddress.IPv4Address(v4)))


def nat64_local_48(v4: str) -> str:
    """64:ff9b:1::/48 used as a /48 NAT64 prefix: the address is split around
    the reserved octet (bits 64-71), RFC 6052 section 2.2."""
    bits = int(ipaddress.IPv4Address(v4))
    high, low = bits >> 16, bits & 0xFFFF
    return _v6(int(ipaddress.IPv6Address("64:ff9b:1::")) | (high << 64) | (low << 40))


def sixtofour(v4: str) -> str:
    """6to4 (2002::/16): the relay sends to the address in bits 16-47."""
    return _v6((0x2002 << 112) | (int(ipaddress.IPv4Address(v4)) << 80) | 1)


def teredo(v4: str) -> str:
    """Teredo (2001::/32): server 65.54.227.120, port 40000; the client
    address is the last 32 bits, inverted."""
    server = int(ipaddress.IPv4Address("65.54.227.120"))
    client = int(ipaddress.IPv4Address(v4)) ^ 0xFFFFFFFF
    return _v6((0x20010000 << 96) | (server << 64) | (0x8000 << 48) | ((40000 ^ 0xFFFF) << 32) | client)


FORMS = [compatible, mapped, translated, nat64, nat64_local_96, nat64_local_48, sixtofour, teredo]
# Loopback and private addresses are refused in production; link-local ones
# (a cloud's metadata service) even where private receivers are allowed (dev).
TARGETS = [("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", True)]
CASES = [
    pytest.param(form(v4), v4, allow_private, id=f"{form.__name__}-{v4}")
    for form in FORMS
    for v4, allow_private in TARGETS
]


def test_the_forms_carry_the_address_they_claim():
    """The builders above agree with the standard library where it knows the form."""
    assert compatible("127.0.0.1") == "::7f00:1"
    assert nat64("169.254.169.254") == "64:ff9b::a9fe:a9fe"
    assert nat64_local_48("127.0.0.1") == "64:ff9b:1:7f00:0:100::"
    assert ipaddress.IPv6Address(sixtofour("127.0.0.1")).sixtofour == ipaddress.IPv4Address("127.0.0.1")
    assert ipaddress.IPv6Address(teredo("169.254.169.254")).teredo[1] == ipaddress.IPv4Address(
        "169.254.169.254"
    )


@pytest.mark.parametrize("address, embedded, allow_private", CASES)
def test_a_receiver_at_an_ipv4_address_inside_ipv6_is_refused_and_nothing_is_created(
    api_for, requester, settings, address, embedded, allow_private
):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = allow_private
    response = api_for(requester).post(
        "/api/v1/webhooks/",
        data=json.dumps({"url": f"http://[{address}]:8080/hook"}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    message = response.json()["errors"]["url"][0]
    assert "private, loopback or link-local" in message
    assert embedded in message, "the refusal names the IPv4 address the URL leads to"
    assert WebhookSubscription.objects.count() == 0


@pytest.mark.parametrize("address, embedded, allow_private", CASES)
def test_a_changed_url_at_an_ipv4_address_inside_ipv6_is_refused_and_nothing_changes(
    requester, settings, address, embedded, allow_private
):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = allow_private
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    with pytest.raises(subscriptions.WebhookError) as refused:
        subscriptions.webhook_update(subscription=subscription, actor=requester, url=f"https://[{address}]/")
    assert embedded in refused.value.errors["url"][0]
    subscription.refresh_from_db()
    assert subscription.url == "https://cmdb.example.com/in"


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.mark.parametrize("address, embedded, allow_private", CASES)
def test_a_host_name_that_resolves_to_an_ipv4_address_inside_ipv6_is_not_called(
    requester, receiver, settings, monkeypatch, address, embedded, allow_private
):
    """DNS rebinding: the name was harmless when subscribed; at delivery it
    answers an IPv6 address that leads to a forbidden IPv4 one."""
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = allow_private
    port = receiver.server.server_address[1]
    subscription, receiver.secret = subscriptions.webhook_subscribe(
        actor=requester, url=f"http://hooks.example.test:{port}/in"
    )
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def dns(host, *args, **kwargs):
        if host == "hooks.example.test":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return real_getaddrinfo(host, *args, **kwargs)

    connections = []

    def connect(target, *args, **kwargs):
        connections.append(target)  # a spy: the real connection still happens
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    monkeypatch.setattr(socket, "create_connection", connect)
    delivery = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    delivery = webhook_delivery.webhook_deliver(delivery_id=delivery.pk)
    assert delivery.last_error == (
        "Not sent: hooks.example.test resolves to a private, loopback or link-local address."
    )
    assert connections == [] and receiver.received == []
    assert WebhookDelivery.objects.get(pk=delivery.pk).last_status_code is None


@pytest.mark.parametrize(
    "url",
    [
        f"https://[{nat64('93.184.216.34')}]/hook",  # a public site behind a NAT64 gateway
        f"https://[{mapped('93.184.216.34')}]/hook",
        "https://[2606:4700:4700::1111]/hook",  # plain global IPv6
    ],
)
def test_a_public_ipv4_address_inside_ipv6_is_accepted(requester, settings, url):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url=url)
    assert subscription.url == url


def test_ipv6_loopback_is_not_read_as_an_ipv4_address(requester, settings):
    """``::1`` and ``::`` lie in the IPv4-compatible range but are IPv6's own
    loopback and unspecified addresses, judged as such."""
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    assert ssrf.address_allowed("::1")
    assert not ssrf.address_allowed("::")
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    assert not ssrf.address_allowed("::1")
