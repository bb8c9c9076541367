"""Every call reaches the client's request layer: direct posts, methods and views bound at
any time, instrument / uninstrument cycles, and identities the caller names in the body."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest
from conftest import CALLS, MESSAGES, REPLY_TOKENS, Telemetry
from openai._models import FinalRequestOptions
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

CHAT_BODY = {"model": "gpt-4o-mini", "messages": MESSAGES}


def sent(server: LocalOpenAIServer) -> Any:
    return server.requests[-1].json


def test_client_post_is_traced_and_injected(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    # How LiteLLM calls the client.
    with use_identity(id="posted"):
        completion = orq_client.post("/chat/completions", cast_to=ChatCompletion, body=CHAT_BODY)
    assert sent(server)["orq"] == {"identity": {"id": "posted"}}
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "posted"
    assert attributes["gen_ai.response.id"] == completion.id
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_client_post_of_a_stream_is_traced_with_usage(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    stream = orq_client.post(
        "/chat/completions",
        cast_to=ChatCompletion,
        body={**CHAT_BODY, "stream": True},
        stream=True,
        stream_cls=openai.Stream[ChatCompletionChunk],
    )
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)
    assert sent(server)["stream_options"] == {"include_usage": True}
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.output_tokens"] == REPLY_TOKENS


async def test_async_client_post_is_traced_and_injected(
    telemetry: Telemetry, server: LocalOpenAIServer, async_orq_client: openai.AsyncOpenAI
) -> None:
    body = {"model": "text-embedding-3-small", "input": "hello"}
    with use_identity(id="posted-async"):
        await async_orq_client.post("/embeddings", cast_to=CreateEmbeddingResponse, body=body)
    assert sent(server)["orq"] == {"identity": {"id": "posted-async"}}
    assert telemetry.only_span().name == "embeddings text-embedding-3-small"


def test_other_requests_of_the_client_are_not_traced(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with pytest.raises(openai.NotFoundError):  # the local server has no such route
        orq_client.post("/chat/completions/abc", cast_to=ChatCompletion, body={})
    assert telemetry.spans() == []


def test_methods_and_views_bound_before_instrument_are_covered(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with telemetry.paused():
        create = orq_client.chat.completions.create  # e.g. instructor.from_openai(client)
        raw_view = orq_client.chat.completions.with_raw_response
        raw_view.create(model="gpt-4o-mini", messages=MESSAGES)  # the view is built here
    with use_identity(id="early"):
        create(model="gpt-4o-mini", messages=MESSAGES)
        assert sent(server)["orq"] == {"identity": {"id": "early"}}
        raw_view.create(model="gpt-4o-mini", messages=MESSAGES).parse()
        assert sent(server)["orq"] == {"identity": {"id": "early"}}
    assert [span.attributes["orq.identity.id"] for span in telemetry.spans()] == ["early"] * 2  # type: ignore[index]


def test_views_built_while_instrumented_follow_uninstrument_and_reinstrument(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    raw_view = plain_client.chat.completions.with_raw_response
    with use_identity(id="u"):
        raw_view.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(telemetry.spans()) == 1
        telemetry.instrumentor.uninstrument()
        raw_view.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(telemetry.spans()) == 1  # nothing more to the old provider
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        telemetry.instrumentor.instrument(tracer_provider=provider, inject_hosts=["127.0.0.1"])
        raw_view.create(model="gpt-4o-mini", messages=MESSAGES)
    assert sent(server)["orq"] == {"identity": {"id": "u"}}  # the new inject_hosts apply
    assert len(exporter.get_finished_spans()) == 1
    assert len(telemetry.spans()) == 1


def test_a_kept_reference_to_the_wrapped_request_passes_through_once_uninstrumented(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    request = orq_client.request  # holds our wrapper
    telemetry.instrumentor.uninstrument()
    options = FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data=CHAT_BODY
    )
    with use_identity(id="u"):
        request(ChatCompletion, options)
    assert "orq" not in sent(server)
    assert telemetry.spans() == []


def test_instrument_uninstrument_cycles_give_one_span_per_instrumented_call(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    cycles = 3
    for _ in range(cycles):
        CALLS["chat"](plain_client)
        telemetry.instrumentor.uninstrument()
        CALLS["chat"](plain_client)
        telemetry.instrument()
    assert len(telemetry.spans()) == cycles


@pytest.mark.parametrize("where", ["extra_body", "body"])
def test_a_caller_given_identity_is_the_one_recorded(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, where: str
) -> None:
    explicit = {"id": "user-explicit", "tags": ["from-body"]}
    with use_identity(id="ambient", display_name="Ambient"):
        if where == "extra_body":  # LangChain's extra_body=, the Agents SDK's ModelSettings
            CALLS["chat"](orq_client, extra_body={"orq": {"identity": explicit}})
        else:  # a body built by hand, as client.post(...) callers do
            body = {**CHAT_BODY, "orq": {"identity": explicit}}
            orq_client.post("/chat/completions", cast_to=ChatCompletion, body=body)
    assert sent(server)["orq"] == {"identity": explicit}
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "user-explicit"
    assert attributes["orq.identity.tags"] == ("from-body",)
    assert "orq.identity.display_name" not in attributes
    (point, *_) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes or {})["orq.identity.id"] == "user-explicit"


def test_an_invalid_caller_given_identity_is_sent_as_given_and_recorded_nowhere(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    invalid = {"id": "u", "tags": [f"t{n}" for n in range(11)]}
    with use_identity(id="ambient"), caplog.at_level(logging.WARNING, logger="orq_otel"):
        for _ in range(2):
            CALLS["chat"](orq_client, extra_body={"orq": {"identity": invalid}})
    assert sent(server)["orq"] == {"identity": invalid}
    assert all("orq.identity.id" not in (span.attributes or {}) for span in telemetry.spans())
    warnings = [r.getMessage() for r in caplog.records if "identity given" in r.getMessage()]
    assert len(warnings) == 1
    assert "tags" in warnings[0]
    assert "at most 10" in warnings[0]


async def test_async_caller_given_identity_is_recorded(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI
) -> None:
    await CALLS["chat"](async_orq_client, extra_body={"orq": {"identity": {"id": "explicit"}}})
    assert (telemetry.only_span().attributes or {})["orq.identity.id"] == "explicit"


def test_azure_client_requests_are_traced(telemetry: Telemetry, server: LocalOpenAIServer) -> None:
    client = openai.AzureOpenAI(
        api_key="k",
        api_version="2024-10-21",
        azure_endpoint="http://contoso.openai.azure.com",
        http_client=openai.DefaultHttpxClient(proxy=server.address),
        max_retries=0,
    )
    with client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert server.requests[-1].path == "/openai/deployments/gpt-4o-mini/chat/completions"
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert "orq" not in sent(server)


# --- a multipart endpoint: /audio/transcriptions ----------------------------------------

AUDIO = ("hello.wav", b"RIFF....WAVEfmt ", "audio/wav")


def test_transcription_is_a_span_and_metrics_with_the_identity_in_the_header_only(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="listener", display_name="Ada"):
        result = orq_client.audio.transcriptions.create(model="gpt-4o-transcribe", file=AUDIO)
    assert result.text == "Hello from the local model, offline and private."
    request = server.requests[-1]
    assert (request.header("Content-Type") or "").startswith("multipart/form-data")
    assert request.form == {"model": "gpt-4o-transcribe", "file": "hello.wav"}  # no orq field
    assert request.header("X-ORQ-IDENTITY-ID") == "listener"
    assert request.identity == {"id": "listener"}  # what the router attributes it to
    span = telemetry.only_span()
    assert span.name == "generate_content gpt-4o-transcribe"
    attributes = dict(span.attributes or {})
    assert attributes["orq.identity.id"] == "listener"
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes or {})["gen_ai.operation.name"] == "generate_content"


def test_streamed_transcription_gets_its_usage_from_the_done_event(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="listener"):
        events = list(
            orq_client.audio.transcriptions.create(
                model="gpt-4o-transcribe", file=AUDIO, stream=True
            )
        )
    assert [event.type for event in events][-1] == "transcript.text.done"
    assert server.requests[-1].form["stream"] is True
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    assert attributes["gen_ai.request.stream"] is True


async def test_async_transcription_on_another_host_is_sent_exactly_as_without_us(
    telemetry: Telemetry, server: LocalOpenAIServer, async_plain_client: openai.AsyncOpenAI
) -> None:
    with use_identity(id="listener"):
        await async_plain_client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
    request = server.requests[-1]
    assert request.header("X-ORQ-IDENTITY-ID") is None
    assert request.form == {"model": "whisper-1", "file": "hello.wav"}
    assert telemetry.only_span().name == "generate_content whisper-1"
