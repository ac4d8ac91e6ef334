"""Outgoing HTTP that cannot be aimed inside the network (SSRF): every connection is checked where it is made.

A webhook URL comes from configuration a customer may influence, so it may name `127.0.0.1`, `169.254.169.254`
(cloud metadata), `[::ffff:10.0.0.1]`, `2130706433` or `0x7f.1` (both 127.0.0.1), or a name whose DNS answer is
any of those — or changes to one of those between a check and the connect (DNS rebinding). Checking the URL is
not enough. So the check lives in the network backend under httpx's connection pool: for each new connection it
resolves the host once, refuses if any answer is loopback, private, link-local, multicast, unspecified, reserved
or otherwise not globally routable (IPv4-mapped, 6to4, Teredo and NAT64 IPv6 unwrapped to the IPv4 inside),
connects to the checked address itself (never resolving again), and checks the peer the socket is connected to.
TLS still verifies the certificate and sends SNI for the URL's host name (httpcore passes the origin's host to
`start_tls`). Redirects are never followed (the client is built with `follow_redirects=False`), and only http and
https URLs are built, so nothing reaches another host or scheme by the back door.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from contracts.errors import AddressForbidden

# httpx logs every request's URL at INFO and httpcore every connection's host at DEBUG; a webhook URL is a secret
# (some carry their token in the path), so neither logs below WARNING in a process that delivers webhooks.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`(host, port) -> addresses`: how a host name becomes the addresses to check (tests override DNS with one)."""

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
"""Cloud metadata services (AWS/GCP/Azure, AWS over IPv6, Alibaba): refused by name in the error."""


def embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def internal_kind(ip: IP) -> str | None:
    """What makes `ip` internal (`loopback`, `private`, `cloud metadata`...), or None for a public address."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return internal_kind(inner)
    checks = (
        (ip in METADATA, "cloud metadata"),
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((name for hit, name in checks if hit), None)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for `host` (numeric forms such as `2130706433` and `0x7f.1` included, as glibc reads
    them), as address strings."""
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(a[4][0]) for a in answers))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the SSRF check on every connection it makes (see the module docstring)."""

    def __init__(
        self,
        allow_internal: bool,
        where: str,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_internal = allow_internal
        self.where = where
        """What the error names (an endpoint's name, `the alert webhook`): never the URL, which may be a secret."""
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    def check(self, addresses: Iterable[str]) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The first of `addresses`, once every one of them is allowed; `AddressForbidden` otherwise (one bad answer
        refuses them all: a name that answers with an internal address is not trusted for the others)."""
        checked = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not checked:
            raise AddressForbidden(f"{self.where}: the host resolves to no address")
        if not self.allow_internal:
            for ip in checked:
                kind = internal_kind(ip)
                if kind is not None:
                    raise AddressForbidden(
                        f"{self.where} resolves to {ip} ({kind}): refused; declare it allow_internal to deliver there"
                    )
        return checked[0]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve once, check, connect to the checked address, and check the peer actually connected to."""
        try:
            addresses = await self.resolve(host.strip("[]"), port)
        except (OSError, UnicodeError) as e:
            raise httpcore.ConnectError(f"cannot resolve the host: {type(e).__name__}") from None
        ip = self.check(addresses)
        stream = await self.inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
        peer = stream.get_extra_info("server_addr")
        if peer is not None:
            try:
                self.check([str(peer[0])])
            except AddressForbidden:
                await stream.aclose()
                raise
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Never: a webhook goes over TCP."""
        raise AddressForbidden(f"{self.where}: unix sockets are not a webhook destination")

    async def sleep(self, seconds: float) -> None:
        """As the inner backend sleeps."""
        await self.inner.sleep(seconds)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context (system/certifi CAs) for every client: building one costs ~0.1-0.3 s of CPU, which
    a worker with 200 endpoints must not pay per endpoint."""
    return httpx.create_ssl_context()


def guarded_client(
    backend: GuardedBackend, max_connections: int = 10, timeout: float = 15.0, verify: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through `backend`, with keep-alive connections pooled (at most
    `max_connections`), no redirects followed, and no proxy or `.netrc` taken from the environment."""
    verify = verify or tls_context()
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(max_connections=max_connections))
    # httpx's transport takes no network backend, so its pool is rebuilt with ours (same options, plus the backend):
    # the connection is the one place a check cannot be raced past.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=verify,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=backend,
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=timeout, trust_env=False)
