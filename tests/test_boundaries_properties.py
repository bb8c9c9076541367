"""Properties: the edge and the egress guard agree with the propagators and the clients on
every spelling of a host or a key that they generate.

- A host is judged as the address the resolver gives (`getaddrinfo`, numeric only, so
  nothing leaves the machine) and as the name httpx and yarl (aiohttp) encode.
- After the edge, no configured propagator (W3C, Jaeger, OT Trace) reads a key of ours
  from the headers, however the key and the header name are spelled.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from typing import Any

import httpx
import yarl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.propagators.ot_trace import OTTracePropagator

from orq_otel._config import DEFAULT_PROPAGATE_TO
from orq_otel._identity.edge import strip_identity_baggage
from orq_otel._identity.header import percent_decoded
from orq_otel._identity.hosts import Destinations, connect_host
from orq_otel._identity.keys import is_guarded_key

DEFAULT = Destinations(DEFAULT_PROPAGATE_TO)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- percent-decoding ------------------------------------------------------------------


@FAST
@given(st.text(alphabet=st.sampled_from("%25%aFgz09\\x+ é\u00ff\u3002;=")))
def test_percent_decoding_is_urllibs(text: str) -> None:
    assert percent_decoded(text) == urllib.parse.unquote(text)


# --- hosts ---------------------------------------------------------------------------


def _part(value: int, style: str) -> str:
    if style == "hex":
        return hex(value)
    if style == "HEX":
        return "0X" + format(value, "X")
    if style == "octal":
        return "0" + format(value, "o")
    return str(value)


@st.composite
def ipv4_spellings(draw: Any) -> str:
    """Any inet_aton spelling of an IPv4 address: 1-4 parts, each decimal, octal or hex."""
    address = draw(st.integers(min_value=0, max_value=2**32 - 1))
    parts = draw(st.integers(min_value=1, max_value=4))
    octets = address.to_bytes(4, "big")
    values = [*octets[: parts - 1], int.from_bytes(octets[parts - 1 :], "big")]
    styles = st.sampled_from(["decimal", "hex", "HEX", "octal"])
    return ".".join(_part(value, draw(styles)) for value in values)


@FAST
@given(ipv4_spellings())
def test_a_numeric_host_is_the_address_the_resolver_gives(spelling: str) -> None:
    info = socket.getaddrinfo(spelling, 80, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    address = ipaddress.ip_address(info[0][4][0])
    assert connect_host(spelling) == address
    try:
        httpx_host = httpx.URL(f"http://{spelling}/").host
    except httpx.InvalidURL:  # httpx refuses 4-part spellings with leading zeros
        httpx_host = str(address)
    assert connect_host(httpx_host) == address
    assert DEFAULT.allows(spelling) == DEFAULT.allows(str(address))


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
FULL_STOPS = st.sampled_from([".", "\u3002", "\uff0e", "\uff61"])


@st.composite
def unicode_dotted(draw: Any) -> tuple[str, str]:
    """(a host with any of IDNA's full stops between its labels, the same with `.`)."""
    labels = draw(st.lists(LABEL, min_size=1, max_size=4))
    spelled = labels[0] + "".join(draw(FULL_STOPS) + label for label in labels[1:])
    return spelled, ".".join(labels)


@FAST
@given(unicode_dotted(), st.sampled_from(["", ".internal", ".example.com"]))
def test_a_unicode_dotted_host_is_the_name_clients_encode(
    host: tuple[str, str], suffix: str
) -> None:
    spelled, ascii_host = host[0] + suffix, host[1] + suffix
    aiohttp_host = yarl.URL.build(scheme="http", host=spelled).raw_host
    assert aiohttp_host is not None
    assert connect_host(spelled) == connect_host(aiohttp_host) == connect_host(ascii_host)
    for destinations in (DEFAULT, Destinations(("single-label", ".internal"))):
        assert destinations.allows(spelled) == destinations.allows(aiohttp_host)


# --- keys at the edge ----------------------------------------------------------------

OUR_KEYS = [
    "orq.identity.id",
    "orq.identity.id.b64",
    "orq.identity.display_name",
    "orq.identity.sig",
    "orq.thread.id",
    "orq.thread.sig",
    "enduser.id",
]
SPACES = st.lists(st.sampled_from([" ", "+", "%20", "%09", "%0A", "%C2%A0", "\t"]), max_size=3)


@st.composite
def spelled_key(draw: Any) -> str:
    """One of our keys, with some characters percent-encoded and whitespace around it."""
    key = draw(st.sampled_from(OUR_KEYS))
    chars = []
    for char in key:
        style = draw(st.sampled_from(["plain", "plain", "upper", "lower"]))
        hexed = format(ord(char), "02X")
        chars.append(
            char if style == "plain" else "%" + (hexed if style == "upper" else hexed.lower())
        )
    return "".join(draw(SPACES)) + "".join(chars) + "".join(draw(SPACES))


@st.composite
def entry_header_name(draw: Any) -> str:
    """A Jaeger or OT Trace baggage header name carrying one of our keys, with the
    prefix also inserted anywhere in the key (Jaeger removes it wherever it is)."""
    key: str = draw(st.sampled_from(OUR_KEYS))
    prefix: str = draw(st.sampled_from(["uberctx-", "ot-baggage-"]))
    if prefix == "uberctx-":
        cut = draw(st.integers(min_value=0, max_value=len(key)))
        key = key[:cut] + "uberctx-" * draw(st.integers(0, 2)) + key[cut:]
    return prefix + key


TRACE_HEADERS = [
    (b"uber-trace-id", b"000000000000000a:000000000000000b:0:1"),
    (b"ot-tracer-traceid", b"000000000000000a"),
    (b"ot-tracer-spanid", b"000000000000000b"),
    (b"ot-tracer-sampled", b"true"),
]
PROPAGATORS = [W3CBaggagePropagator(), JaegerPropagator(), OTTracePropagator()]


def read_by_propagators(headers: list[tuple[bytes, bytes]]) -> set[str]:
    scope = {"type": "http", "headers": headers}
    keys: set[str] = set()
    for propagator in PROPAGATORS:
        keys.update(baggage.get_all(propagator.extract(scope, Context(), getter=asgi_getter)))
    return keys


@FAST
@given(
    st.lists(spelled_key(), min_size=1, max_size=5),
    st.lists(entry_header_name(), max_size=4),
    st.sampled_from(["", ";p=1", " ;p"]),
)
def test_no_propagator_reads_a_key_of_ours_after_the_edge(
    keys: list[str], names: list[str], properties: str
) -> None:
    members = [f"{key}=victim{properties}" for key in keys] + ["tenant=acme"]
    headers = [
        *TRACE_HEADERS,
        (b"baggage", ",".join(members).encode()),
        *((name.encode(), b"victim") for name in names),
    ]
    kept = strip_identity_baggage(headers)
    assert not {key for key in read_by_propagators(kept) if is_guarded_key(key)}
    assert "tenant" in read_by_propagators(kept)
