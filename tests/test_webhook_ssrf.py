"""Webhook deliveries (and the alert webhook) cannot be aimed inside the network: every connection is checked after
DNS resolution, at the address actually connected to. No test sends a packet beyond loopback: a case that names
a non-loopback address runs with a connector that records and refuses any connect, so the check must refuse it
before one is tried."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpcore
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.address_guard import GuardedBackend, guarded_client, internal_kind
from activities.alerts import AlertChannels, JobAlert
from activities.smtp import SmtpConfig
from contracts.errors import AddressForbidden
from tests.webhook_receiver import Receiver, new_secret


class NoConnect(httpcore.AsyncNetworkBackend):
    """A connector that must never be used: it records the attempt and refuses it."""

    def __init__(self) -> None:
        self.tried: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.tried.append((host, port))
        raise httpcore.ConnectError("this test never connects")


def resolver(answers: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


@pytest.fixture
def receiver() -> Any:
    with Receiver([new_secret()]) as r:
        yield r


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "[::1]"])
async def test_loopback_in_any_spelling_is_refused_without_connecting(receiver: Receiver, host: str) -> None:
    async with guarded_client(GuardedBackend(False, "endpoint 'x'")) as client:
        with pytest.raises(AddressForbidden, match=r"endpoint 'x' resolves to .* \(loopback\)"):
            await client.post(f"http://{host}:{receiver.port}/hook", content=b"{}")
    assert receiver.connections == 0


@pytest.mark.parametrize(
    ("url", "answers", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", {"169.254.169.254": ["169.254.169.254"]}, "cloud metadata"),
        ("http://internal.example.test/hook", {"internal.example.test": ["10.0.0.1"]}, "private"),
        ("https://mixed.example.test/hook", {"mixed.example.test": ["93.184.216.34", "192.168.1.5"]}, "private"),
        ("http://[fd00:ec2::254]/", {"fd00:ec2::254": ["fd00:ec2::254"]}, "cloud metadata"),
        ("http://[::ffff:a9fe:a9fe]/", {"::ffff:a9fe:a9fe": ["::ffff:169.254.169.254"]}, "cloud metadata"),
        ("http://0.0.0.0/", {"0.0.0.0": ["0.0.0.0"]}, "unspecified"),
        ("http://mcast.example.test/", {"mcast.example.test": ["224.0.0.1"]}, "multicast"),
    ],
)
async def test_internal_addresses_are_refused_before_any_connect(url: str, answers: dict, kind: str) -> None:
    connector = NoConnect()
    backend = GuardedBackend(False, "endpoint 'x'", resolver(answers), inner=connector)
    async with guarded_client(backend) as client:
        with pytest.raises(AddressForbidden, match=f"\\({kind}\\)"):
            await client.post(url, content=b"{}")
    assert connector.tried == []


async def test_connects_to_the_address_it_checked_not_a_second_lookup(receiver: Receiver) -> None:
    # `hooks.example.test` resolves only through the test's resolver: reaching the receiver proves the connection
    # went to the checked address (a second, system lookup would fail), with the URL's host in the Host header.
    backend = GuardedBackend(True, "endpoint 'x'", resolver({"hooks.example.test": ["127.0.0.1"]}))
    async with guarded_client(backend) as client:
        response = await client.post(f"http://hooks.example.test:{receiver.port}/h", content=b"{}")
    assert response.status_code == 200
    assert receiver.at("/h")[0].headers["host"] == f"hooks.example.test:{receiver.port}"


def test_public_addresses_pass() -> None:
    assert internal_kind(ipaddress.ip_address("93.184.216.34")) is None
    assert internal_kind(ipaddress.ip_address("2606:4700::1111")) is None


async def test_alert_webhook_gets_the_same_guard(receiver: Receiver) -> None:
    channels = AlertChannels(
        SmtpConfig(host="127.0.0.1", port=1),
        "x@example.com",
        None,
        SecretStr(receiver.url("/alerts")),
        lambda alert: alert.job_id,
    )
    alert = JobAlert(kind="email", job_id="email-1", failure_type="RecipientRejected", message="550")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(channels.send_alert, alert)
    assert raised.value.type == "AlertUndelivered" and "loopback" in str(raised.value)
    assert receiver.connections == 0
