"""Signed identity baggage over a real HTTP hop, and edge protection without a secret."""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import worker  # examples/distributed: a service that calls the LLM, with no identity code
from conftest import ORQ_BASE_URL, Telemetry
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import NumberDataPoint
from servers import serve_in_thread

from orq_otel import DropIncomingIdentity, Identity, set_identity
from orq_otel._identity.identity_entries import IDENTITY
from orq_otel.testing import LocalOpenAIServer

SIGNATURE_KEY = IDENTITY.signature_key
SECRET = "s3cret-key-number-one-0123456789"
NEW_SECRET = "s3cret-key-number-two-0123456789"
ADA = Identity(id="user-ada", display_name="Ada", tags=["pro"], metadata={"plan": "pro"})


@pytest.fixture
def service(server: LocalOpenAIServer, telemetry: Telemetry) -> Iterator[str]:
    """Service B: receives the hop, calls the orq router through the local server."""
    with serve_in_thread(worker.create_app(server.async_client(ORQ_BASE_URL))) as url:
        yield url


@pytest.fixture
def edge_service(server: LocalOpenAIServer, telemetry: Telemetry) -> Iterator[str]:
    app = DropIncomingIdentity(worker.create_app(server.async_client(ORQ_BASE_URL)))
    with serve_in_thread(app) as url:
        yield url


def signed_header(identity: Identity = ADA) -> str:
    """Service A: the baggage header its instrumented HTTP client would send."""
    headers: dict[str, str] = {}
    propagate.inject(headers, context=set_identity(identity, Context()))
    return headers["baggage"]


def entries(header: str) -> dict[str, str]:
    pairs = (member.split("=", 1) for member in header.split(","))
    return {urllib.parse.unquote_plus(k): urllib.parse.unquote_plus(v) for k, v in pairs}


def header_of(values: dict[str, str]) -> str:
    return ",".join(
        f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}" for k, v in values.items()
    )


def hop(url: str, baggage: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback service
        f"{url}/llm",
        data=json.dumps({"question": "hello"}).encode(),
        headers={"baggage": baggage, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 200


def router_identity(server: LocalOpenAIServer) -> Any:
    return server.requests[-1].json.get("orq", {}).get("identity")


def llm_span_identity(telemetry: Telemetry) -> Any:
    """The identity on the most recent LLM span."""
    spans = [s for s in telemetry.spans() if s.name.startswith("chat ")]
    return (spans[-1].attributes or {}).get("orq.identity.id")


def rejections(telemetry: Telemetry) -> dict[str, int]:
    data = telemetry.metric_reader.get_metrics_data()
    found: dict[str, int] = {}
    for resource_metrics in data.resource_metrics if data else []:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "orq.identity.rejected":
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint)
                        found[str(dict(point.attributes or {})["reason"])] = int(point.value)
    return found


def trusting(telemetry: Telemetry, *secrets: str, **options: Any) -> None:
    telemetry.instrument(identity_secret=list(secrets), **options)


# --- signed identity crosses the hop -------------------------------------------------


def test_signed_identity_is_trusted_injected_and_recorded(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer
) -> None:
    trusting(telemetry, SECRET)
    header = signed_header()
    assert SIGNATURE_KEY in entries(header)
    hop(service, header)
    assert router_identity(server) == ADA.payload
    assert llm_span_identity(telemetry) == "user-ada"
    assert rejections(telemetry) == {}


def test_unsigned_identity_is_ignored_when_a_secret_is_set(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry.instrument()
    unsigned = signed_header()  # no secret yet: nothing signed
    trusting(telemetry, SECRET)
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        hop(service, unsigned)
        hop(service, unsigned)
    assert router_identity(server) is None
    assert llm_span_identity(telemetry) is None
    assert rejections(telemetry) == {"missing": 2}
    assert len([r for r in caplog.records if "not signed" in r.getMessage()]) == 1


def test_forged_identity_is_ignored(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer
) -> None:
    trusting(telemetry, SECRET)
    forged = header_of({"orq.identity.id": "victim", SIGNATURE_KEY: "v1.9999999999.AAAA"})
    hop(service, forged)
    assert router_identity(server) is None
    assert rejections(telemetry) == {"bad_signature": 1}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("orq.identity.id", "user-eve"),
        ("orq.identity.display_name", '"Eve"'),
        ("orq.identity.tags", '["admin"]'),
        ("orq.identity.metadata", '{"plan":"enterprise"}'),
        ("orq.identity.email", '"eve@example.com"'),  # an entry that was never signed
    ],
)
def test_tampered_identity_is_ignored(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer, key: str, value: str
) -> None:
    trusting(telemetry, SECRET)
    tampered = {**entries(signed_header()), key: value}
    hop(service, header_of(tampered))
    assert router_identity(server) is None
    assert llm_span_identity(telemetry) is None
    assert rejections(telemetry) == {"bad_signature": 1}


def test_removing_a_signed_field_is_tampering(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer
) -> None:
    trusting(telemetry, SECRET)
    values = entries(signed_header())
    del values["orq.identity.tags"]
    hop(service, header_of(values))
    assert router_identity(server) is None


def test_expired_signature_is_ignored_and_skew_is_tolerated(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    monkeypatch.setattr("orq_otel._identity.baggage.wall_clock", lambda: now)
    trusting(telemetry, SECRET, identity_signature_ttl=60, identity_clock_skew=5)
    header = signed_header()
    monkeypatch.setattr(
        "orq_otel._identity.baggage.wall_clock", lambda: now + 60 + 4
    )  # within skew
    hop(service, header)
    assert router_identity(server) == ADA.payload
    monkeypatch.setattr(
        "orq_otel._identity.baggage.wall_clock", lambda: now + 60 + 6
    )  # an old replay
    hop(service, header)
    assert router_identity(server) is None
    assert rejections(telemetry) == {"expired": 1}


def test_rotated_keys_old_signatures_verify_while_the_old_key_is_listed(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer
) -> None:
    trusting(telemetry, SECRET)
    old = signed_header()
    trusting(telemetry, NEW_SECRET, SECRET)  # the first signs, all verify
    new = signed_header()
    hop(service, old)
    assert router_identity(server) == ADA.payload
    hop(service, new)
    assert router_identity(server) == ADA.payload
    trusting(telemetry, NEW_SECRET)  # the old key retired
    hop(service, old)
    assert router_identity(server) is None
    hop(service, new)
    assert router_identity(server) == ADA.payload


def test_enduser_id_alone_is_not_trusted_when_a_secret_is_set(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer
) -> None:
    trusting(telemetry, SECRET)
    hop(service, "enduser.id=user-ada")
    assert router_identity(server) is None
    assert rejections(telemetry) == {"missing": 1}


def test_in_process_identity_is_always_trusted(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: Any
) -> None:
    from orq_otel import use_identity

    trusting(telemetry, SECRET)
    with use_identity(ADA):
        orq_client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert router_identity(server) == ADA.payload


def test_secrets_from_environment(
    telemetry: Telemetry, service: str, server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_IDENTITY_SECRET", f"{NEW_SECRET},{SECRET}")
    telemetry.instrument()
    hop(service, signed_header())
    assert router_identity(server) == ADA.payload
    assert entries(signed_header())[SIGNATURE_KEY].startswith("v2.")


def test_short_secret_is_a_clear_error(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        trusting(telemetry, "short")


def test_secret_is_not_in_settings_repr(telemetry: Telemetry) -> None:
    from orq_otel._config import current_settings

    trusting(telemetry, SECRET)
    assert SECRET not in repr(current_settings.get())


# --- edge protection without a secret -------------------------------------------------


def test_edge_middleware_drops_identity_from_outside(
    telemetry: Telemetry, edge_service: str, server: LocalOpenAIServer
) -> None:
    hop(edge_service, "orq.identity.id=someone-else,enduser.id=someone-else,tenant=acme")
    assert router_identity(server) is None
    assert llm_span_identity(telemetry) is None


def test_edge_middleware_keeps_other_baggage() -> None:
    from orq_otel._identity.edge import strip_identity_baggage

    headers = [
        (
            b"baggage",
            b"orq.identity.id=x, tenant=acme,enduser.id=y;prop=1, orq%2Eidentity%2Etags=z",
        ),
        (b"Baggage", b"orq.identity.display_name=%22X%22"),
        (b"host", b"example.com"),
    ]
    assert strip_identity_baggage(headers) == [
        (b"baggage", b"tenant=acme"),
        (b"host", b"example.com"),
    ]


def test_settings_never_show_the_secret_when_logged() -> None:
    from orq_otel._config import load_settings

    settings = load_settings({"identity_secret": [SECRET, NEW_SECRET]})
    assert settings.identity_secret == (SECRET, NEW_SECRET)
    for text in (repr(settings), str(settings), f"{settings}"):
        assert SECRET not in text
        assert NEW_SECRET not in text
        assert "identity_secret=<hidden>" in text
