"""Fuzzing the webhook job: whatever URL an endpoint is declared with, whatever a producer sends as an event, and
whatever a receiver answers, the input is refused typed at the edge (the endpoint at settings load, the job before
enqueue) or the delivery ends delivered or failed with a typed error — never another exception — and no
connection is ever made to an address the SSRF guard refuses.

URLs never leave loopback: the webhook activity runs with a resolver that answers from a table (numeric hosts as
glibc reads them) and a connector that records every connect it is asked for and refuses it. Answers come from a
real receiver on loopback (an endpoint allowed internal). Each example is one attempt of the real activity, so a
hanging or trickling receiver costs one short time-out. Drawn as tests/properties.py says: seeded unless
`--random`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections import Counter
from datetime import timedelta
from typing import Any

import httpcore
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.address_guard import internal_kind
from activities.webhook import RETRY_AFTER_CAP, WebhookActivities
from contracts.kinds import KINDS
from contracts.webhook import BODY_KEPT, WebhookEndpoint, WebhookResult
from conveyor import InvalidJobError
from conveyor.client import validate
from tests import properties
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.strategies import DEEP, HOSTILE_TEXT, JSON, NUMBERS
from tests.webhook_receiver import Answer, Receiver, new_secret

SECRETS = [SecretStr(new_secret(3))]
SHORT = (timedelta(milliseconds=50),)
TIMEOUT = 0.5
"""Each fuzzed endpoint's time-out: a receiver that hangs or trickles costs this, once."""
AT_ONCE = 10
"""Attempts run concurrently (a worker runs many deliveries at once; the run stays seconds long)."""

NAMES = {
    "hooks.example.com": ["93.184.216.34"],
    "internal.example.test": ["10.0.0.1"],
    "mixed.example.test": ["93.184.216.34", "192.168.1.5"],
    "metadata.example.test": ["169.254.169.254"],
    "v6.example.test": ["::ffff:127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}
"""The test's DNS: public, private, mixed, metadata and loopback answers (any other name does not resolve)."""
HOSTS = st.sampled_from(
    [
        *NAMES, "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "017700000001", "127.1",
        "169.254.169.254", "[fd00:ec2::254]", "[fe80::1%25eth0]", "0.0.0.0", "[::]", "10.0.0.1", "224.0.0.1",
        "[64:ff9b::a00:1]", "[2002:7f00:1::]", "93.184.216.34", "bücher.example", "xn--bcher-kva.example",
        "a" * 64 + ".example", ("a" * 60 + ".") * 5 + "example", "évil.example\u3002com", "127.0.0.1.",
        "user:pw@127.0.0.1", "hooks.example.com@127.0.0.1", "127.0.0.1#@hooks.example.com", "[::1]:80@x",
        "", "[", "[::1", "ex ample.com", "\u200bhooks.example.com", "Ⅻ.example",
        "\uff48\uff4f\uff4f\uff4b\uff53.example.com",
    ]
)  # fmt: skip
"""Hosts: internal addresses in every spelling, names resolving inside, userinfo tricks, unicode, huge, broken."""
SCHEMES = st.sampled_from(["HTTP", "ftp", "file", "gopher", "javascript", ""])
PORTS = st.sampled_from([":80", ":443", ":0", ":65535", ":65536", ":99999", ":abc", ":-1", ":"])
PATHS = st.sampled_from(["", "/", "/hook", "/hooks/T0/B0/tok?x=1", "/%00", "/ü", "/" + "p" * 5000])
URLS = st.one_of(
    st.builds(lambda s, h, path: f"{s}://{h}{path}", st.sampled_from(["http", "https"]), HOSTS, PATHS),
    st.builds(
        lambda s, h, p, path: f"{s}://{h}{p}{path}",
        SCHEMES | st.just("http"),
        HOSTS | HOSTILE_TEXT,
        PORTS | st.just(""),
        PATHS | st.sampled_from(["/a b", "/\r\nX-Injected: 1", "/\x85"]),
    ),
    st.text(max_size=40),
)
"""Endpoint URLs: http(s) to a hostile host; odd schemes, ports and paths besides; plain nonsense."""
HEADERS: st.SearchStrategy[dict[str, str]] = st.just({}) | st.dictionaries(
    st.sampled_from(["Authorization", "X-Tenant", "Host", "webhook-id", "Content-Length", "X Bad", "é"]) | HOSTILE_TEXT,
    st.sampled_from(["Bearer t0k", "", "a\r\nX-Injected: 1", "\0", "é" * 10, "v" * 5000]) | HOSTILE_TEXT,
    max_size=2,
)
"""An endpoint's extra headers: none, or reserved names, non-names, line breaks and NULs in values."""

RETRY_AFTER = st.sampled_from(
    [
        "120", "0", "-5", " 5 ", "1e3", "0x10", "99999999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 32 Foo 2020 99:99:99 GMT", "soon", "",
    ]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)  # fmt: skip
"""`Retry-After` values: seconds, dates, nonsense (printable Latin-1: what a header line can carry)."""
ANSWERS = st.one_of(
    st.builds(
        Answer,
        status=st.sampled_from([200, 201, 204, 299, 301, 302, 307, 308, 400, 404, 408, 410, 413, 429, 500, 503])
        | st.integers(100, 599),
        body=st.binary(max_size=3000),
        headers=st.fixed_dictionaries({}, optional={"Retry-After": RETRY_AFTER, "Location": st.just("/elsewhere")}),
    ),
    st.builds(Answer, status=st.sampled_from([200, 503]), size=st.sampled_from([2**20, 4 * 2**20])),
    st.just(Answer(hang=True)),
    st.builds(Answer, status=st.sampled_from([200, 503]), drip=st.just(0.05)),
)
"""What a receiver answers: any status with any body and hostile headers, a huge body, no answer, a trickle."""
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=20,
)
"""JSON values a valid payload may hold: non-finite numbers, controls, separators and odd keys included."""
BLOBS = st.integers(0, 2_000_000).map(lambda n: {"blob": "é" * n})
"""Payloads up to past the job's size limit."""
EVENTS = st.one_of(
    st.tuples(st.none(), st.sampled_from(["invoice.paid", "a:b_c-d", "x" * 128]), VALUES | BLOBS, ANSWERS).map(
        lambda e: (e[0], e[1], e[2] if isinstance(e[2], dict) else {"value": e[2]}, e[3])
    ),
    st.tuples(
        st.sampled_from([None, "nope", "Bad Name", ""]) | HOSTILE_TEXT,
        st.sampled_from(["invoice.paid", "x" * 129]) | HOSTILE_TEXT,
        JSON | DEEP | BLOBS,
        ANSWERS,
    ),
)
"""(endpoint name — None: the example's own endpoint —, event type, payload, the receiver's answer): a valid job
with a hostile payload, or a job hostile everywhere."""

TYPED = {"WebhookUnavailable", "WebhookRejected", "WebhookRedirected", "EndpointGone", "EndpointUnknown"}
"""The failures a delivery to a reachable receiver may end with (`InvalidJob` never: the edge checked the job)."""


class Recorder(httpcore.AsyncNetworkBackend):
    """The connector under the guard: records every address it is asked to connect to, and refuses it (so no
    packet leaves this machine)."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.tried.append(host)
        raise httpcore.ConnectError("the fuzz test never connects")


async def table_resolver(host: str, port: int) -> list[str]:
    """`NAMES`, else the host as an address in any spelling glibc takes (`2130706433`, `0x7f.1`), else no answer."""
    if host in NAMES:
        return NAMES[host]
    try:
        return [str(ipaddress.ip_address(host.split("%", 1)[0]))]
    except ValueError:
        pass
    try:
        return [socket.inet_ntoa(socket.inet_aton(host))]
    except (OSError, ValueError) as e:
        raise socket.gaierror(socket.EAI_NONAME, "no such name") from e


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy` (times ten with `--random`), seeded unless `--random`."""
    found: list[Any] = []

    @examples(max_examples=properties.examples(count))
    @given(strategy)
    def draw(example: Any) -> None:
        found.append(example)

    draw()
    return found


async def attempt(activities: WebhookActivities, job: dict[str, Any]) -> WebhookResult | ApplicationError:
    """One attempt of the real webhook activity on `job` (as JSON, the way a worker receives it): its result or its
    typed failure; any other exception propagates and fails the test."""
    try:
        return await ActivityEnvironment().run(activities.webhook, job)
    except ApplicationError as e:
        return e


async def test_hostile_endpoint_urls_are_refused_at_load_or_at_the_connect_never_connected(size: Size) -> None:
    outcomes: Counter[str] = Counter()
    endpoints: dict[str, WebhookEndpoint] = {}
    for number, (url, headers) in enumerate(drawn(st.tuples(URLS, HEADERS), size.fuzz_examples)):
        try:
            endpoints[f"e{number}"] = WebhookEndpoint(
                url=SecretStr(url), secrets=SECRETS, headers={k: SecretStr(v) for k, v in headers.items()}
            )
        except ValidationError as e:
            outcomes["refused at load"] += 1
            assert len(url) < 12 or url not in str(e), "a refused URL is quoted in its error"
    recorder = Recorder()
    activities = WebhookActivities(endpoints, SHORT, resolve=table_resolver, network=recorder)
    try:
        for name in endpoints:
            ended = await attempt(activities, {"endpoint": name, "event_type": "a.b", "payload": {}})
            assert isinstance(ended, ApplicationError), ended  # nothing is ever connected: nothing is delivered
            assert ended.type in {"AddressForbidden", "WebhookUnavailable"}, ended
            assert (ended.type == "AddressForbidden") == ended.non_retryable
            outcomes["refused at connect" if ended.type == "AddressForbidden" else "unreachable"] += 1
    finally:
        await activities.close()
    internal = [host for host in recorder.tried if internal_kind(ipaddress.ip_address(host)) is not None]
    figures.record(
        "fuzz: webhook URLs", examples=sum(outcomes.values()), **{k.replace(" ", "_"): n for k, n in outcomes.items()},
        connects_tried=len(recorder.tried), connects_to_refused_addresses=len(internal), drawn=properties.mode(),
    )  # fmt: skip
    assert internal == [], "a connection was tried to an address the guard refuses"
    assert outcomes["refused at load"] and outcomes["refused at connect"] and recorder.tried, outcomes


async def test_hostile_events_and_answers_are_refused_at_the_edge_or_end_typed(size: Size) -> None:
    events = drawn(EVENTS, size.fuzz_examples)
    outcomes: Counter[str] = Counter()
    with Receiver([s.get_secret_value() for s in SECRETS]) as receiver:
        endpoints = {f"e{n}": receiver.endpoint(f"/e{n}", e[3], timeout_seconds=TIMEOUT) for n, e in enumerate(events)}
        jobs: list[tuple[str, dict[str, Any]]] = []
        for number, (name, event_type, payload, _) in enumerate(events):
            job = {"endpoint": f"e{number}" if name is None else name, "event_type": event_type, "payload": payload}
            try:
                model = validate(KINDS["webhook"], job)
            except InvalidJobError:
                outcomes["refused at the edge"] += 1
                continue
            jobs.append((f"/e{number}", json.loads(model.model_dump_json())))
        activities = WebhookActivities(endpoints, SHORT)
        try:
            ended: list[WebhookResult | ApplicationError] = []
            for start in range(0, len(jobs), AT_ONCE):
                ended += await asyncio.gather(*(attempt(activities, job) for _, job in jobs[start : start + AT_ONCE]))
        finally:
            await activities.close()
        for (path, job), end in zip(jobs, ended, strict=True):
            if isinstance(end, WebhookResult):
                outcomes["delivered"] += 1
                [got] = receiver.at(path)
                assert got.verified_by == [0] and 200 <= end.status < 300
                assert json.loads(got.body)["data"] == job["payload"]
                kept = end.attempts[-1].body
            else:
                assert end.type in TYPED, end
                outcomes[end.type] += 1
                assert end.non_retryable == (end.type != "WebhookUnavailable"), end
                assert end.non_retryable or end.next_retry_delay is not None
                assert end.next_retry_delay is None or end.next_retry_delay <= RETRY_AFTER_CAP
                kept = end.details[0]["attempts"][-1]["body"] if end.type != "EndpointUnknown" else ""
            assert len(kept.encode()) <= BODY_KEPT * 3  # 1 KB of bytes, each at most one U+FFFD when not UTF-8
        signed = all(r.verified_by == [0] for r in receiver.received)
        redirected_to = receiver.at("/elsewhere")
    figures.record(
        "fuzz: webhook events and answers", examples=len(events),
        **{k.replace(" ", "_"): n for k, n in sorted(outcomes.items())}, drawn=properties.mode(),
    )  # fmt: skip
    assert sum(outcomes.values()) == len(events)
    assert signed, "a request reached the receiver without a signature it verifies"
    assert redirected_to == [], "a redirect was followed"
    assert outcomes["delivered"] and outcomes["WebhookUnavailable"] and outcomes["refused at the edge"], outcomes
