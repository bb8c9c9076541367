"""OpenTelemetry's `suppress_instrumentation()`: calls made inside it pass straight through,
as every contrib instrumentation lets them (an exporter's own calls, or another
instrumentation that suppresses nested telemetry)."""

from __future__ import annotations

import openai
import pytest
from conftest import CALL_CASES, CALLS, Telemetry
from opentelemetry.instrumentation.utils import suppress_instrumentation

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
def test_a_suppressed_call_gets_no_span_no_metrics_and_no_request_changes(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    options = {"stream": True} if stream else {}
    with telemetry.paused(), use_identity(id="user-1"):
        result = CALLS[endpoint](orq_client, **options)
        if stream:
            list(result)
    uninstrumented = server.requests[-1]
    with use_identity(id="user-1"), suppress_instrumentation():
        result = CALLS[endpoint](orq_client, **options)
        if stream:
            assert type(result) is openai.Stream  # not our proxy
            list(result)
    sent = server.requests[-1]
    assert (sent.body, sent.header("X-ORQ-IDENTITY-ID")) == (
        uninstrumented.body,
        uninstrumented.header("X-ORQ-IDENTITY-ID"),
    )
    assert sent.header("X-ORQ-IDENTITY-ID") is None
    assert telemetry.spans() == []
    assert telemetry.points("gen_ai.client.operation.duration") == []


async def test_a_suppressed_async_call_passes_straight_through(
    telemetry: Telemetry, server: LocalOpenAIServer, async_orq_client: openai.AsyncOpenAI
) -> None:
    with use_identity(id="user-1"), suppress_instrumentation():
        await CALLS["chat"](async_orq_client)
    assert "orq" not in server.requests[-1].json
    assert telemetry.spans() == []


def test_calls_after_the_suppressed_block_are_instrumented_again(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="user-1"):
        with suppress_instrumentation():
            CALLS["chat"](orq_client)
        CALLS["chat"](orq_client)
    assert server.requests[-1].identity == {"id": "user-1"}
    assert len(telemetry.spans()) == 1
