"""The boundaries, second round: signatures that cannot be folded or moved between groups,
logs that hold no values and stay bounded, an edge that reads no more than the W3C
limits, a secret that cannot be set empty, and published ports on loopback only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Telemetry
from opentelemetry import propagate
from opentelemetry.context import Context

from orq_otel import Identity, get_identity, get_thread, set_identity
from orq_otel._config import current_settings, load_settings
from orq_otel._identity import baggage as signed_baggage
from orq_otel._identity.edge import MAX_BAGGAGE_BYTES, MAX_MEMBERS, strip_identity_baggage
from orq_otel._identity.resolver import IdentityResolverCache
from orq_otel._identity.thread import set_thread
from orq_otel._log import MAX_KINDS, _seen

ROOT = Path(__file__).resolve().parents[1]
SECRET = "boundaries-secret-0123456789"


def header_of(context: Context) -> str:
    headers: dict[str, str] = {}
    propagate.inject(headers, context=context)
    return headers["baggage"]


def members(header: str) -> dict[str, str]:
    return dict(member.split("=", 1) for member in header.split(","))


def read(header: str) -> tuple[Identity | None, Any]:
    context = propagate.extract({"baggage": header}, context=Context())
    return get_identity(context), get_thread(context)


@pytest.fixture
def signing() -> None:
    current_settings.set(load_settings({"identity_secret": SECRET}))


# --- 10. signatures cannot be folded ---------------------------------------------------


def v1_signature(entries: dict[str, str], expiry: int) -> str:
    """How the previous release signed: `key=value` lines, then `exp=`, joined by newlines."""
    lines = [f"{k}={entries[k]}" for k in sorted(entries)] + [f"exp={expiry}"]
    digest = hmac.new(SECRET.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    return f"v1.{expiry}." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def folded(entries: dict[str, str], sig: str) -> str:
    """The metadata and tags entries folded into one added key whose decoded text holds
    the `=` and the newline that joined their lines."""
    key = "orq.identity.metadata=" + entries["orq.identity.metadata"] + "\norq.identity.tags"
    quoted = key.replace("=", "%3D").replace("\n", "%0A")
    return f"orq.identity.id=user-1,{quoted}={entries['orq.identity.tags']},orq.identity.sig={sig}"


@pytest.mark.usefixtures("signing")
def test_a_folded_signed_header_is_refused() -> None:
    identity = Identity(id="user-1", tags=["pro"], metadata={"plan": "pro"})
    entries = members(header_of(set_identity(identity, Context())))
    assert read(",".join(f"{k}={v}" for k, v in entries.items()))[0] == identity
    assert read(folded(entries, entries["orq.identity.sig"]))[0] is None


@pytest.mark.usefixtures("signing")
def test_a_previous_release_signature_is_read_but_never_folded() -> None:
    expiry = int(signed_baggage.wall_clock()) + 60
    entries = members(header_of(set_identity(Identity(id="user-1", tags=["pro"]), Context())))
    entries.pop("orq.identity.sig")
    entries["orq.identity.metadata"] = "eyJwbGFuIjoicHJvIn0"
    sig = v1_signature(entries, expiry)
    header = ",".join(f"{k}={v}" for k, v in entries.items()) + f",orq.identity.sig={sig}"
    assert read(header)[0] == Identity(id="user-1", tags=["pro"], metadata={"plan": "pro"})
    # the v1 lines of the folded header are the very same: v1 verifies only unambiguous ones
    assert read(folded(entries, sig))[0] is None


# --- 14. a thread is bound to the identity it was signed with -------------------------


@pytest.mark.usefixtures("signing")
def test_a_signed_thread_is_valid_only_beside_its_identity() -> None:
    victim = set_thread("victim-conversation", context=set_identity({"id": "victim"}, Context()))
    mallory = set_identity({"id": "mallory"}, Context())
    victim_entries = members(header_of(victim))
    mallory_entries = members(header_of(mallory))
    identity, thread = read(header_of(victim))
    assert identity is not None
    assert identity.id == "victim"
    assert thread is not None
    assert thread.id == "victim-conversation"
    moved = {**mallory_entries, **{k: v for k, v in victim_entries.items() if "thread" in k}}
    identity, thread = read(",".join(f"{k}={v}" for k, v in moved.items()))
    assert identity is not None
    assert identity.id == "mallory"
    assert thread is None


@pytest.mark.usefixtures("signing")
def test_a_new_identity_signs_the_thread_again() -> None:
    context = set_identity({"id": "other"}, set_thread("t-1", context=set_identity({"id": "a"})))
    identity, thread = read(header_of(context))
    assert identity is not None
    assert identity.id == "other"
    assert thread is not None
    assert thread.id == "t-1"


# --- 6, 11, 7. logs: no values, one line each, bounded -------------------------------


def test_an_invalid_resolver_result_is_logged_without_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def resolver(identity_id: str) -> dict[str, Any]:
        return {"email": "ada.private@@example", "metadata": {"ssn": "x" * 5000}}

    cache = IdentityResolverCache(resolver, ttl=60, size=8, timeout=5)
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert cache.complete(Identity(id="user-1")) == Identity(id="user-1")
    text = caplog.text
    assert "identity_resolver returned an invalid identity" in text
    assert "email" in text  # the field, and the rule
    assert "ada.private" not in text
    assert "xxxxx" not in text


def test_an_unknown_key_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    header = "orq.identity.id=user-1,orq.identity.x%0AERROR%20forged%20line=1"
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        identity, _ = read(header)
    assert identity == Identity(id="user-1")
    assert "unknown identity baggage entries ignored" in caplog.text
    assert "forged" not in caplog.text
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_unknown_keys_make_one_warning_and_keep_no_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    read("orq.identity.id=user-1,orq.identity.warmup=1")  # caches and imports
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with caplog.at_level(logging.WARNING, logger="orq_otel"):
            for index in range(2000):
                read(f"orq.identity.id=user-1,orq.identity.{index}{'k' * 4000}=1")
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(caplog.records) <= 1
    assert kept < 1_000_000  # 2,000 keys of 4 KB would be 8 MB


def test_warning_kinds_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    from orq_otel._log import warn_once

    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        for index in range(MAX_KINDS * 4):
            warn_once(f"kind-{index}", "warning %s", index)
    assert len(_seen) <= MAX_KINDS + 1
    assert len(caplog.records) <= MAX_KINDS + 1


# --- 8. what the edge passes on is within the W3C limits ------------------------------


def test_the_edge_passes_on_no_more_than_the_w3c_limits() -> None:
    many = ",".join(f"k{index}=v" for index in range(1000))
    late = many + ",orq.identity.id=victim"  # ours, far past the limits
    headers = [(b"baggage", late.encode())] + [
        (f"uberctx-k{index}".encode(), b"v") for index in range(500)
    ]
    headers.append((b"uberctx-orq.identity.id", b"victim"))
    kept = strip_identity_baggage(headers)
    (baggage_header,) = [value for name, value in kept if name == b"baggage"]
    assert len(baggage_header) <= MAX_BAGGAGE_BYTES
    assert baggage_header.count(b",") + 1 <= MAX_MEMBERS
    assert b"orq.identity" not in baggage_header
    entry_headers = [name for name, _ in kept if name.startswith(b"uberctx-")]
    assert len(entry_headers) == MAX_MEMBERS
    assert b"uberctx-orq.identity.id" not in entry_headers
    # within the limits, everything that is not ours passes
    small = [(b"baggage", b"a=1,orq.identity.id=x,b=2"), (b"uberctx-c", b"3")]
    assert strip_identity_baggage(small) == [(b"baggage", b"a=1,b=2"), (b"uberctx-c", b"3")]


# --- 13. a secret set but empty is an error ------------------------------------------


@pytest.mark.parametrize("text", ["", "  ,  ", ","])
def test_an_empty_secret_variable_is_an_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="ORQ_OTEL_IDENTITY_SECRET is set but empty"):
        load_settings(environ={"ORQ_OTEL_IDENTITY_SECRET": text})


@pytest.mark.parametrize("value", ["", "   ", [], [""]])
def test_an_empty_secret_option_is_an_error_naming_it(telemetry: Telemetry, value: Any) -> None:
    with pytest.raises(ValueError, match="identity_secret is set but empty"):
        telemetry.instrument(identity_secret=value)


# --- 15. published ports on loopback only ---------------------------------------------


def test_compose_publishes_every_port_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "examples" / "docker-compose.yaml").read_text())
    ports = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert ports
    assert all(str(port).startswith("127.0.0.1:") for port in ports)
