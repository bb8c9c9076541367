"""Hostile input: values that cannot be sent are refused at the model; nothing that reads
baggage raises, whatever the header holds; signatures have exactly one accepted form."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, propagate
from opentelemetry.context import Context

from orq_otel import Identity, get_identity, set_identity
from orq_otel._config import current_settings, load_settings
from orq_otel._identity.baggage import wall_clock
from orq_otel._identity.edge import strip_identity_baggage
from orq_otel._identity.identity_entries import IDENTITY
from orq_otel._identity.signing import sign

SECRET = "hostile-test-secret-0123456789"


# --- the model refuses what cannot be sent --------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"metadata": {"score": math.nan}}, "metadata.score"),
        ({"metadata": {"deep": [{"x": math.inf}]}}, "metadata.deep"),
        ({"metadata": {"x": -math.inf}}, "metadata.x"),
        ({"display_name": "bad \udc80"}, "display_name"),
        ({"tags": ["ok", "\ud800"]}, "tags.1"),
        ({"metadata": {"\ud800": 1}}, "metadata"),
        ({"id": "u\udfff"}, "id"),
    ],
)
def test_identity_refuses_values_that_cannot_be_sent(fields: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        Identity(**{"id": "u", **fields})
    assert "finite" in str(raised.value) or "unicode" in str(raised.value).lower()


def test_metadata_nested_deeper_than_the_stack_is_a_clear_error() -> None:
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="metadata"):
        Identity(id="u", metadata=nested)


# --- reading never raises -------------------------------------------------------------


def read(header: str) -> Identity | None:
    return get_identity(propagate.extract({"baggage": header}, context=Context()))


@pytest.mark.parametrize(
    "header",
    [
        "orq.identity.id=u,orq.identity.metadata=" + "%5B" * 3000 + "%5D" * 3000,
        "orq.identity.id=u,orq.identity.metadata=%7B%22a%22%3ANaN%7D",
        "orq.identity.id=u,orq.identity.metadata=%7B%22a%22%3AInfinity%7D",
        "orq.identity.id=u,orq.identity.display_name=%22%5Cud800%22",
        "orq.identity.id=u,orq.identity.display_name=%ED%A0%80",
        "orq.identity.id=u,orq.identity.tags=%00%01",
        "orq.identity.id.b64=%5B%5D",
    ],
)
def test_hostile_entries_are_dropped_without_raising(header: str) -> None:
    identity = read(header)
    assert identity is None or identity == Identity(id="u")


@pytest.mark.parametrize("secrets", [(), (SECRET,)])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "orq.identity.id",
                    "orq.identity.id.b64",
                    "orq.identity.display_name",
                    "orq.identity.tags",
                    "orq.identity.metadata",
                    "orq.identity.sig",
                    "orq.identity.x",
                    "enduser.id",
                ]
            ),
            st.text(max_size=60),
        ),
        max_size=8,
    ).map(lambda pairs: ",".join(f"{key}={value}" for key, value in pairs))
)
def test_any_header_through_the_propagator_never_raises(
    secrets: tuple[str, ...], header: str
) -> None:
    current_settings.set(load_settings({"identity_secret": list(secrets) or None}))
    try:
        identity = read(header)
    finally:
        current_settings.set(None)
    assert identity is None or isinstance(identity, Identity)


# --- signatures: one canonical form ---------------------------------------------------


def signed_entries(expiry: int) -> dict[str, str]:
    entries = {"orq.identity.id": "user-1"}
    return {**entries, IDENTITY.signature_key: sign(entries, SECRET, expiry, "orq.identity.sig")}


def trusted(entries: dict[str, str]) -> Identity | None:
    current_settings.set(load_settings({"identity_secret": SECRET}))
    ctx = Context()
    for key, value in entries.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return get_identity(ctx)


def test_a_well_formed_signature_verifies() -> None:
    assert trusted(signed_entries(int(wall_clock()) + 60)) == Identity(id="user-1")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: sig + "A",  # junk after the base64
        lambda sig: sig[:-1],  # too short
        lambda sig: sig.replace("v2.", "v2.0", 1),  # a leading zero: another spelling
        lambda sig: sig.replace("v2.1", "v2.¹", 1),  # isdigit() says yes, int() says no
        lambda sig: sig.replace("v2.", "V2.", 1),
        lambda sig: sig + "=",
        lambda sig: sig.replace(".", "..", 1),
    ],
)
def test_any_other_spelling_of_a_signature_is_rejected(mangle: object) -> None:
    entries = signed_entries(int(wall_clock()) + 60)
    entries[IDENTITY.signature_key] = mangle(entries[IDENTITY.signature_key])  # type: ignore[operator]
    assert trusted(entries) is None


def test_a_signature_with_stray_bits_in_its_last_character_is_rejected() -> None:
    entries = signed_entries(int(wall_clock()) + 60)
    signature = entries[IDENTITY.signature_key]
    last = signature[-1]
    # 32 bytes in 43 characters: the last one carries 4 bits and 2 that must be zero.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    entries[IDENTITY.signature_key] = signature[:-1] + alphabet[alphabet.index(last) | 1]
    assert trusted(entries) is None


def test_expiry_beyond_the_ttl_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    far = int(wall_clock()) + 10 * 365 * 86400  # signed by someone holding the secret
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert trusted(signed_entries(far)) is None
    assert any("longer than identity_signature_ttl" in r.getMessage() for r in caplog.records)


def test_an_entry_added_to_a_signed_identity_breaks_the_signature() -> None:
    entries = signed_entries(int(wall_clock()) + 60)
    entries["orq.identity.role"] = "admin"  # unknown to us, but not to every reader
    assert trusted(entries) is None


def test_a_secret_with_a_comma_is_one_secret() -> None:
    secret = "one,secret,with,commas-0123456789"
    settings_ = load_settings({"identity_secret": secret})
    assert settings_.identity_secret == (secret,)
    current_settings.set(settings_)
    ctx = set_identity(Identity(id="u"), Context())
    assert get_identity(ctx) == Identity(id="u")


def test_secrets_from_the_environment_are_a_comma_list() -> None:
    environ = {"ORQ_OTEL_IDENTITY_SECRET": "first-secret-0123456, second-secret-0123456"}
    assert load_settings(environ=environ).identity_secret == (
        "first-secret-0123456",
        "second-secret-0123456",
    )


# --- the edge removes our entries however they are spelled ----------------------------


@pytest.mark.parametrize(
    "member",
    [
        "orq.identity.id=victim",
        "+orq.identity.id=victim",
        "%20orq.identity.id=victim",
        "%09orq.identity.id=victim",
        "orq.identity.id%20=victim",
        "orq%2Eidentity%2Eid=victim",
        "enduser.id%20=victim",
        "+enduser.id=victim",
        "orq.identity.id;p=1=victim",
        "orq.thread.id=t-victim",
        "orq.identity.id.b64=InZpY3RpbSI",
    ],
)
def test_edge_removes_our_entries_in_every_spelling(member: str) -> None:
    headers = [(b"baggage", f"tenant=acme,{member}".encode())]
    stripped = strip_identity_baggage(headers)
    assert stripped == [(b"baggage", b"tenant=acme")]
    extracted = propagate.extract({"baggage": stripped[0][1].decode()}, context=Context())
    assert get_identity(extracted) is None


@pytest.mark.parametrize(
    "name", [b"uberctx-orq.identity.id", b"ot-baggage-orq.identity.id", b"UberCtx-enduser.id"]
)
def test_edge_removes_our_entries_from_jaeger_and_ot_trace_headers(name: bytes) -> None:
    headers = [(name, b"victim"), (b"uberctx-tenant", b"acme")]
    assert strip_identity_baggage(headers) == [(b"uberctx-tenant", b"acme")]


def test_edge_joins_several_baggage_headers_into_one() -> None:
    headers = [
        (b"baggage", b"a=1"),
        (b"x-other", b"y"),
        (b"baggage", b"orq.identity.id=victim,b=2"),
    ]
    assert strip_identity_baggage(headers) == [(b"baggage", b"a=1,b=2"), (b"x-other", b"y")]
