"""`with_raw_response` and `with_streaming_response` go through the same instrumentation."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from typing import Any

import openai
import pydantic
import pytest
from conftest import CALLS, ORQ_BASE_URL, PROMPT_TOKENS, REPLY_TOKENS, STREAMING_CALLS, Telemetry

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer


def raw(name: str) -> Callable[..., Any]:
    """CALLS[name] on the `with_raw_response` view of the resource."""
    return lambda client, **kw: CALLS[name](_RawView(client, "with_raw_response"), **kw)


def streaming(name: str) -> Callable[..., Any]:
    return lambda client, **kw: CALLS[name](_RawView(client, "with_streaming_response"), **kw)


class _RawView:
    """`client.x.y` -> `client.x.y.with_raw_response` (or streaming) for the CALLS lambdas."""

    def __init__(self, target: Any, view: str) -> None:
        self._target, self._view = target, view

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name in ("completions", "embeddings", "responses") and not hasattr(
            attribute, "completions"
        ):
            return getattr(attribute, self._view)
        return _RawView(attribute, self._view)


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_raw_response_call_is_injected_traced_and_parses(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    with use_identity(id="raw-user"):
        response = raw(endpoint)(orq_client)
    assert server.requests[-1].identity == {"id": "raw-user"}
    assert response.headers["x-request-id"] == "req_local"
    parsed = response.parse()
    assert parsed is response.parse()
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "raw-user"
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attributes["gen_ai.response.model"] == parsed.model


@pytest.mark.parametrize("endpoint", STREAMING_CALLS)
def test_raw_response_stream_parses_to_a_traced_stream(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str
) -> None:
    response = raw(endpoint)(orq_client, stream=True)
    stream = response.parse()
    assert isinstance(stream, openai.Stream)
    assert telemetry.spans() == []
    chunks = list(stream)
    assert chunks
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_streaming_response_call_is_injected_and_traced(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    with use_identity(id="streamed-user"), streaming(endpoint)(orq_client) as response:
        assert isinstance(response, openai._response.APIResponse)
        parsed = response.parse()
    assert server.requests[-1].identity == {"id": "streamed-user"}
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "streamed-user"
    assert attributes["gen_ai.response.model"] == parsed.model


@pytest.mark.parametrize("endpoint", STREAMING_CALLS)
def test_streaming_response_of_a_stream_ends_span_with_its_stream(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str
) -> None:
    with streaming(endpoint)(orq_client, stream=True) as response:
        chunks = list(response.parse())
    assert chunks
    assert len(telemetry.spans()) == 1


def test_streaming_response_read_raw_ends_span_on_exit(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with streaming("chat")(orq_client, stream=True) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith("data: ") for line in lines)
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_async_raw_response_call_is_traced(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI, endpoint: str
) -> None:
    with use_identity(id="async-raw"):
        response = await raw(endpoint)(async_orq_client)
    parsed = response.parse()
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "async-raw"
    assert attributes["gen_ai.response.model"] == parsed.model


@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_async_streaming_response_call_is_traced(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI, endpoint: str
) -> None:
    async with streaming(endpoint)(async_orq_client) as response:
        parsed = await response.parse()
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.response.model"] == parsed.model


async def test_async_streaming_response_of_a_stream_is_traced(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI
) -> None:
    # The caller reads the raw body here, so usage comes only if the caller asks for it.
    options = {"include_usage": True}
    async with streaming("chat")(async_orq_client, stream=True, stream_options=options) as response:
        chunks = [chunk async for chunk in await response.parse()]
    assert chunks
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_raw_stream_parsed_in_one_expression_keeps_its_span_until_the_end(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    options = {"include_usage": True}  # raw bodies are the caller's: usage only if asked
    stream = raw("chat")(orq_client, stream=True, stream_options=options).parse()  # dropped here
    gc.collect()
    assert telemetry.spans() == []
    list(stream)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)


class Answer(pydantic.BaseModel):
    text: str


def test_raw_response_that_fails_to_parse_still_ends_its_span(
    telemetry: Telemetry, orq_client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    response = orq_client.chat.completions.with_raw_response.parse(
        model="gpt-4o-mini", messages=[], response_format=Answer
    )
    with pytest.raises(pydantic.ValidationError):  # the local model does not answer JSON
        response.parse()
    assert len(telemetry.spans()) == 1
    assert not [r for r in caplog.records if "orq_otel failed" in r.getMessage()]


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_raw_body_on_orq_host_is_exactly_the_uninstrumented_body(
    telemetry: Telemetry, server: LocalOpenAIServer, endpoint: str
) -> None:
    def lines() -> list[str]:
        # A new client each time: openai binds a client's raw-response views on first use.
        with (
            server.client(ORQ_BASE_URL) as client,
            streaming(endpoint)(client, stream=True) as response,
        ):
            return [line for line in response.iter_lines() if line]

    with telemetry.paused():
        expected = lines()
    received = lines()
    assert normalised(received) == normalised(expected)
    assert len(telemetry.spans()) == 1  # and the second call was traced


def normalised(lines: list[str]) -> list[str]:
    """Lines as two calls give them, but for the local server's response numbers and clock."""
    lines = [re.sub(r"-local-\d+", "-local-N", line) for line in lines]
    return [re.sub(r'"created": \d+', '"created": 0', line) for line in lines]
