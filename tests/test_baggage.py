"""The baggage wire format: lossless through OpenTelemetry's W3C propagator, safe on bad input."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, context, propagate
from opentelemetry.context import Context

from orq_otel import Identity, get_identity, set_identity, use_identity
from orq_otel._config import current_settings, load_settings


def hop(ctx: Context | None = None) -> tuple[dict[str, str], Context]:
    """Inject into HTTP headers, then extract in a fresh context, as two services would."""
    headers: dict[str, str] = {}
    propagate.inject(headers, context=ctx)
    return headers, propagate.extract(headers, context=Context())


def received(header: str) -> Identity | None:
    return get_identity(propagate.extract({"baggage": header}, context=Context()))


# --- round trip ----------------------------------------------------------------------

_tricky_text = st.text(
    alphabet=st.one_of(
        st.sampled_from([*',;=%"+ \\\t', "😀", "ü", "\u3000"]),
        st.characters(codec="utf-8"),
    ),
    max_size=24,
)


def _is_valid_id(text: str) -> bool:
    try:
        Identity(id=text)
    except ValueError:
        return False
    return True


_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(_is_valid_id)
_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), _tricky_text)
_metadata = st.dictionaries(
    _tricky_text,
    st.one_of(_json_scalars, st.dictionaries(_tricky_text, _json_scalars, max_size=3)),
    max_size=5,
)


@settings(max_examples=500, deadline=None)
@given(
    identity_id=_ids,
    display_name=st.one_of(st.none(), _tricky_text),
    tags=st.one_of(st.none(), st.lists(_tricky_text, max_size=10)),
    metadata=st.one_of(st.none(), _metadata),
)
def test_identity_survives_w3c_propagator_round_trip(
    identity_id: str,
    display_name: str | None,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
) -> None:
    sent = Identity(id=identity_id, display_name=display_name, tags=tags, metadata=metadata)
    _, downstream = hop(set_identity(sent))
    assert get_identity(downstream) == sent


def js_hop(header: str) -> str:
    """A header as a service using OpenTelemetry JS reads it and writes it on: trimmed,
    `decodeURIComponent`, then `encodeURIComponent` (Java and Go percent-encode alike, and
    Go writes a `+` as it is)."""
    entries = []
    for member in header.split(","):
        key, _, value = member.split(";", 1)[0].partition("=")
        entries.append((unquote(key.strip()), unquote(value.strip(), errors="strict")))
    return ",".join(f"{quote(k, safe=JS_SAFE)}={quote(v, safe=JS_SAFE)}" for k, v in entries)


JS_SAFE = "-_.!~*'()"  # what encodeURIComponent leaves as it is


@settings(max_examples=300, deadline=None)
@given(
    identity_id=_ids,
    display_name=st.one_of(st.none(), _tricky_text),
    tags=st.one_of(st.none(), st.lists(_tricky_text, max_size=10)),
)
def test_identity_survives_a_hop_through_a_percent_encoding_sdk(
    identity_id: str, display_name: str | None, tags: list[str] | None
) -> None:
    sent = Identity(id=identity_id, display_name=display_name, tags=tags)
    headers, _ = hop(set_identity(sent))
    assert received(js_hop(headers["baggage"])) == sent


def test_header_uses_documented_format() -> None:
    ctx = set_identity(
        Identity(id="user-1", display_name=" Ada ", tags=["pro"], metadata={"plan": "pro"})
    )
    headers, _ = hop(ctx)
    assert headers["baggage"] == (
        "orq.identity.id=user-1,"
        "orq.identity.display_name=IiBBZGEgIg,"  # base64url of the JSON '" Ada "'
        "orq.identity.tags=WyJwcm8iXQ,"
        "orq.identity.metadata=eyJwbGFuIjoicHJvIn0"
    )


def test_an_id_that_is_not_plain_unreserved_text_travels_encoded() -> None:
    headers, downstream = hop(set_identity(Identity(id="Ada Lovelace+1")))
    assert headers["baggage"] == "orq.identity.id.b64=IkFkYSBMb3ZlbGFjZSsxIg"
    assert get_identity(downstream) == Identity(id="Ada Lovelace+1")


def test_every_value_written_is_unreserved_text() -> None:
    sent = Identity(id="ü 1", display_name='A,B;C=D%"', tags=["x y"], metadata={"k": "ü"})
    headers, _ = hop(set_identity(sent))
    for member in headers["baggage"].split(","):
        key, value = member.split("=")
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", key)
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", value)


def test_headers_written_by_the_first_release_are_still_read() -> None:
    header = (
        "orq.identity.id=user-1,"
        "orq.identity.display_name=%22+Ada+%22,"
        "orq.identity.tags=%5B%22pro%22%5D,"
        "orq.identity.metadata=%7B%22plan%22%3A%22pro%22%7D"
    )
    assert received(header) == Identity(
        id="user-1", display_name=" Ada ", tags=["pro"], metadata={"plan": "pro"}
    )


def test_w3c_properties_are_not_part_of_a_value() -> None:
    # Python's propagator keeps `;prop` inside the value; every other SDK splits it off.
    assert received("orq.identity.id=user-1;p=1,orq.identity.tags=WyJwcm8iXQ;q") == Identity(
        id="user-1", tags=["pro"]
    )


def test_two_different_ids_in_one_header_mean_no_identity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert received("orq.identity.id=a,orq.identity.id.b64=ImIi") is None
    assert any("two different ids" in r.getMessage() for r in caplog.records)


def test_use_identity_removes_an_incoming_enduser_id() -> None:
    token = context.attach(propagate.extract({"baggage": "enduser.id=upstream,tenant=acme"}))
    try:
        with use_identity(id="local"):
            assert baggage.get_baggage("enduser.id") is None
            assert baggage.get_baggage("tenant") == "acme"
    finally:
        context.detach(token)


def test_email_and_logo_url_stay_out_of_baggage_by_default() -> None:
    headers, downstream = hop(
        set_identity(Identity(id="u", email="a@b.co", logo_url="https://x.co/l.png"))
    )
    assert headers["baggage"] == "orq.identity.id=u"
    assert get_identity(downstream) == Identity(id="u")


def test_email_travels_when_listed_in_propagate_fields() -> None:
    current_settings.set(load_settings({"propagate_fields": "id,email"}))
    _, downstream = hop(set_identity(Identity(id="u", email="a@b.co", display_name="Ada")))
    assert get_identity(downstream) == Identity(id="u", email="a@b.co")


def test_propagate_fields_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORQ_OTEL_PROPAGATE_FIELDS", "id,tags")
    _, downstream = hop(set_identity(Identity(id="u", tags=["x"], display_name="Ada")))
    assert get_identity(downstream) == Identity(id="u", tags=["x"])


def test_other_baggage_entries_are_left_alone() -> None:
    ctx = baggage.set_baggage("tenant", "acme")
    with use_identity(id="u"):
        pass
    ctx = set_identity({"id": "u"}, ctx)
    assert baggage.get_baggage("tenant", ctx) == "acme"


# --- other services ------------------------------------------------------------------


def test_service_in_another_language_setting_only_the_id_is_understood() -> None:
    assert received("orq.identity.id=user-42") == Identity(id="user-42")


def test_percent_encoded_id_from_another_service_is_decoded() -> None:
    assert received("orq.identity.id=tenant%2Facme%20user%C3%BC") == Identity(
        id="tenant/acme userü"
    )


def test_enduser_id_is_the_id_when_orq_id_is_absent() -> None:
    assert received("enduser.id=user-7") == Identity(id="user-7")


def test_orq_id_wins_over_enduser_id() -> None:
    assert received("enduser.id=user-7,orq.identity.id=user-8") == Identity(id="user-8")


def test_use_identity_does_not_write_enduser_id() -> None:
    with use_identity(id="u"):
        assert baggage.get_baggage("enduser.id") is None


def test_in_process_identity_wins_over_received_one() -> None:
    token = context.attach(propagate.extract({"baggage": "orq.identity.id=remote"}))
    try:
        assert get_identity() == Identity(id="remote")
        with use_identity(id="local"):
            assert get_identity() == Identity(id="local")
    finally:
        context.detach(token)


# --- untrusted input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("orq.identity.id=u,orq.identity.tags=not-json", "malformed"),
        ("orq.identity.id=u,orq.identity.tags=not~base64", "malformed"),
        ("orq.identity.id=u,orq.identity.tags=e30", "invalid"),  # {} as base64url
        ("orq.identity.id=u,orq.identity.tags=%7B%7D", "invalid"),
        ("orq.identity.id=u,orq.identity.display_name=NDI", "invalid"),  # 42
        (
            "orq.identity.id=u,orq.identity.tags=" + "%5B" + "%2C".join(["%22t%22"] * 11) + "%5D",
            "invalid",
        ),
        ("orq.identity.id=u,orq.identity.email=%22not-an-email%22", "invalid"),
        ("orq.identity.id=u,orq.identity.logo_url=%22javascript%3Aalert(1)%22", "invalid"),
    ],
)
def test_bad_field_is_dropped_and_id_kept_with_a_warning(
    header: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert received(header) == Identity(id="u")
    assert [r.getMessage() for r in caplog.records if kind in r.getMessage()]


def test_metadata_with_too_many_keys_is_dropped() -> None:
    metadata = json.dumps({f"k{i}": i for i in range(21)})
    ctx = baggage.set_baggage(
        "orq.identity.metadata", metadata, baggage.set_baggage("orq.identity.id", "u")
    )
    assert get_identity(ctx) == Identity(id="u")


@pytest.mark.parametrize("bad_id", ["x" * 256, "a%0Ab", "%20"])
def test_invalid_id_means_no_identity_with_a_warning(
    bad_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert received(f"orq.identity.id={bad_id}") is None
    assert any("id in baggage is invalid" in r.getMessage() for r in caplog.records)


def test_non_text_baggage_value_is_ignored_without_raising() -> None:
    ctx = baggage.set_baggage("orq.identity.id", 12345)
    assert get_identity(ctx) is None


def test_each_kind_of_bad_entry_warns_once_not_per_call(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        for number in range(20):
            received(f"orq.identity.id=u{number},orq.identity.tags=bad{number}")
            received(f"orq.identity.id=u{number},orq.identity.metadata=bad{number}")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "tags" in messages[0]
    assert "metadata" in messages[1]


# --- size limits ---------------------------------------------------------------------


def test_identity_too_large_for_baggage_drops_largest_optional_field_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    big_metadata = {f"k{i}": "v" * 200 for i in range(10)}  # ~2.9 kB on the wire
    big_tags = ["t" * 230] * 10  # ~3.2 kB on the wire, the largest
    sent = Identity(id="user-1", display_name="Ada", metadata=big_metadata, tags=big_tags)
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        headers, downstream = hop(set_identity(sent, baggage.set_baggage("filler", "x" * 3000)))
    assert len(headers["baggage"]) <= 8192
    assert get_identity(downstream) == Identity(
        id="user-1", display_name="Ada", metadata=big_metadata
    )
    assert any("orq.identity.tags" in r.getMessage() for r in caplog.records)


def test_field_larger_than_an_entry_allows_is_dropped_whole_never_truncated() -> None:
    sent = Identity(id="u", display_name="x" * 5000)
    headers, downstream = hop(set_identity(sent))
    assert headers["baggage"] == "orq.identity.id=u"
    assert get_identity(downstream) == Identity(id="u")


def test_id_is_kept_even_when_other_baggage_fills_the_header() -> None:
    ctx = Context()
    for number in range(179):
        ctx = baggage.set_baggage(f"k{number}", "v", ctx)
    ctx = set_identity(Identity(id="user-1", display_name="Ada"), ctx)
    assert baggage.get_baggage("orq.identity.id", ctx) == "user-1"
    assert baggage.get_baggage("orq.identity.display_name", ctx) is None
    _, downstream = hop(ctx)
    assert get_identity(downstream) == Identity(id="user-1")


def test_a_lone_surrogate_from_another_service_drops_that_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        # JSON may escape a lone surrogate; it is no text to send anywhere.
        assert received("orq.identity.id=u,orq.identity.display_name=%22%5Cud800%22") == (
            Identity(id="u")
        )
    assert any("display_name" in r.getMessage() for r in caplog.records)
