"""Streams: the caller sees exactly its chunks; the span ends however the stream ends."""

from __future__ import annotations

import gc
import re
from typing import Any

import openai
import pytest
from conftest import CALLS, ORQ_BASE_URL, PROMPT_TOKENS, REPLY_TOKENS, STREAMING_CALLS, Telemetry
from opentelemetry.trace import StatusCode

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer, RawReply


def without_ids(chunks: list[Any]) -> str:
    """Chunks as the caller can observe them: every value, and which fields the server set
    (what `to_dict()` shows), except for what differs between any two calls (the local
    server's response numbers and clock) and a null `usage` key, which OpenAI-style servers
    send on every chunk once usage is asked for, as orq-otel asks on orq hosts."""
    observed = []
    for chunk in chunks:
        set_fields = chunk.model_dump(exclude_unset=True)
        if "usage" in set_fields and set_fields["usage"] is None:
            del set_fields["usage"]
        observed.append((chunk.model_dump(), set_fields))
    text = repr(observed)
    text = re.sub(r"(chatcmpl|cmpl|resp)-local-\d+", "ID", text)
    return re.sub(r"'(created|created_at)': \d+", "'created': 0", text)


@pytest.mark.parametrize("endpoint", STREAMING_CALLS)
def test_orq_stream_gives_caller_exactly_the_uninstrumented_chunks(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    with telemetry.paused():
        expected = list(CALLS[endpoint](orq_client, stream=True))
    with use_identity(id="u"):
        received = list(CALLS[endpoint](orq_client, stream=True))
    assert without_ids(received) == without_ids(expected)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_orq_stream_records_tokens_the_caller_did_not_ask_for(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str
) -> None:
    chunks = list(CALLS[endpoint](orq_client, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.response.id"] == chunks[0].id
    time_to_first_chunk = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(time_to_first_chunk, float)
    assert time_to_first_chunk > 0


def test_caller_asking_for_usage_still_gets_the_usage_chunk(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    chunks = list(CALLS["chat"](orq_client, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.input_tokens"] == PROMPT_TOKENS


def test_other_host_stream_without_usage_records_no_tokens(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    list(CALLS["chat"](plain_client, stream=True))
    assert "stream_options" not in server.requests[-1].json
    attributes = dict(telemetry.only_span().attributes or {})
    assert "gen_ai.usage.input_tokens" not in attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_other_host_stream_records_usage_when_the_server_sends_it(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    list(CALLS["chat"](plain_client, stream=True, stream_options={"include_usage": True}))
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_responses_stream_records_usage_from_the_completed_event(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    events = list(CALLS["responses"](plain_client, stream=True))
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.response.id"] == events[-1].response.id
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attributes["gen_ai.response.finish_reasons"] == ("completed",)


@pytest.mark.parametrize("endpoint", STREAMING_CALLS)
def test_stream_is_still_an_openai_stream(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str
) -> None:
    stream = CALLS[endpoint](orq_client, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    stream.close()


def test_span_stays_open_until_the_stream_is_exhausted(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    stream = CALLS["chat"](orq_client, stream=True)
    next(iter(stream))
    assert telemetry.spans() == []
    for _ in stream:
        pass
    assert len(telemetry.spans()) == 1


def test_stream_iterated_without_a_name_records_the_whole_stream(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    # `for` keeps only the iterator: the stream object itself is dropped at once.
    chunks = 0
    for _ in orq_client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True):
        chunks += 1
        assert telemetry.spans() == []
    attributes = dict(telemetry.only_span().attributes or {})
    assert chunks > 1
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_stream_dropped_half_read_ends_span(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    stream = CALLS["chat"](orq_client, stream=True)
    next(iter(stream))
    del stream
    gc.collect()
    span = telemetry.only_span()
    assert "gen_ai.response.time_to_first_chunk" in (span.attributes or {})
    assert "gen_ai.usage.input_tokens" not in (span.attributes or {})


def test_stream_iterator_dropped_unread_ends_span(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    chunks = iter(CALLS["chat"](orq_client, stream=True))
    assert telemetry.spans() == []
    del chunks
    gc.collect()
    assert len(telemetry.spans()) == 1


def test_stream_closed_early_ends_span(telemetry: Telemetry, orq_client: openai.OpenAI) -> None:
    stream = CALLS["chat"](orq_client, stream=True)
    next(iter(stream))
    stream.close()
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.time_to_first_chunk" in (span.attributes or {})


def test_stream_with_block_exit_ends_span(telemetry: Telemetry, orq_client: openai.OpenAI) -> None:
    with CALLS["chat"](orq_client, stream=True) as stream:
        assert isinstance(stream, openai.Stream)
        next(iter(stream))
    assert len(telemetry.spans()) == 1


def test_stream_garbage_collected_unconsumed_ends_span(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    stream = CALLS["chat"](orq_client, stream=True)
    stream.response.close()
    del stream
    gc.collect()
    assert len(telemetry.spans()) == 1


def test_error_inside_the_callers_loop_propagates_and_ends_span(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with pytest.raises(ZeroDivisionError), CALLS["chat"](orq_client, stream=True) as stream:  # noqa: PT012
        for _ in stream:
            _ = 1 / 0
    assert len(telemetry.spans()) == 1


def test_chat_stream_helper_gives_the_same_final_completion(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    with server.client(ORQ_BASE_URL) as client:

        def final() -> Any:
            with client.chat.completions.stream(model="gpt-4o-mini", messages=[]) as stream:
                for _ in stream:
                    pass
                return stream.get_final_completion()

        with telemetry.paused():
            expected = final()
        received = final()
    assert received.choices[0].message.content == expected.choices[0].message.content
    assert received.usage == expected.usage
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("endpoint", STREAMING_CALLS)
async def test_async_orq_stream_gives_caller_exactly_the_uninstrumented_chunks(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI, endpoint: str
) -> None:
    with telemetry.paused():
        expected = [chunk async for chunk in await CALLS[endpoint](async_orq_client, stream=True)]
    stream = await CALLS[endpoint](async_orq_client, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    received = [chunk async for chunk in stream]
    assert without_ids(received) == without_ids(expected)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


async def test_async_stream_closed_early_ends_span(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI
) -> None:
    stream = await CALLS["chat"](async_orq_client, stream=True)
    await stream.__anext__()
    await stream.close()
    assert len(telemetry.spans()) == 1


async def test_async_stream_context_manager_ends_span(
    telemetry: Telemetry, async_orq_client: openai.AsyncOpenAI
) -> None:
    async with await CALLS["responses"](async_orq_client, stream=True) as stream:
        await stream.__anext__()
    assert len(telemetry.spans()) == 1


def test_chat_stream_helper_left_early_ends_span_at_block_exit(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with orq_client.chat.completions.stream(model="gpt-4o-mini", messages=[]) as stream:
        for _ in stream:
            break
        assert telemetry.spans() == []
    assert len(telemetry.spans()) == 1


def test_responses_stream_helper_gives_final_response_and_one_span(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with orq_client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "Hello from the local model, offline and private."
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.response.id"] == final.id
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_responses_stream_cut_short_reports_no_finish_reason(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    stream = CALLS["responses"](orq_client, stream=True)
    next(iter(stream))  # response.created, status in_progress
    stream.close()
    attributes = dict(telemetry.only_span().attributes or {})
    assert "gen_ai.response.finish_reasons" not in attributes
    assert attributes["gen_ai.response.id"].startswith("resp-local-")  # type: ignore[union-attr]


# --- streams as real servers shape them (recorded, replayed byte for byte) -------------


def chunk(index: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> Any:
    return {
        "id": "chatcmpl-recorded",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


RECORDED_USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
AZURE_FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
}


def test_azure_stream_takes_id_and_model_from_the_first_chunk_that_has_them(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    server.script(
        RawReply.event_stream(
            [AZURE_FILTER_CHUNK, chunk(0, {"content": "Hi"}), chunk(1, {}, "stop")]
        )
    )
    chunks = list(CALLS["chat"](plain_client, stream=True))
    assert chunks[0].id == ""  # the caller still gets Azure's filter chunk
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.response.id"] == "chatcmpl-recorded"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes or {})["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"


def replay(server: LocalOpenAIServer, client: openai.OpenAI, events: list[Any]) -> list[Any]:
    server.script(RawReply.event_stream(events))
    return [item.to_dict() for item in CALLS["chat"](client, stream=True)]


def test_orq_stream_from_a_server_sending_null_usage_on_every_chunk_is_unchanged(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    content = [chunk(0, {"content": "Hi"}, usage=None), chunk(1, {}, "stop", usage=None)]
    with telemetry.paused():
        expected = replay(server, orq_client, content)
    usage_chunk = {**chunk(2, {}), "choices": [], "usage": RECORDED_USAGE}
    received = replay(server, orq_client, [*content, usage_chunk])  # it was asked for usage
    assert received == expected
    assert all("usage" in item for item in received)
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.input_tokens"] == 9


def test_orq_stream_keeps_usage_a_server_sends_on_a_content_chunk_unasked(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    # DeepSeek puts `usage` on its last content chunk whether asked or not: the caller sees
    # it with us exactly as without us (we never take data away from a content chunk).
    events = [chunk(0, {"content": "Hi"}, usage=None), chunk(1, {}, "stop", usage=RECORDED_USAGE)]
    with telemetry.paused():
        expected = replay(server, orq_client, events)
    received = replay(server, orq_client, events)  # on an orq host, so we asked for usage
    assert received == expected
    assert received[-1]["usage"] == RECORDED_USAGE
    assert "include_usage" in str(server.requests[-1].json)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == 2


def test_orq_stream_hides_only_the_usage_chunk_that_exists_because_we_asked(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    content = [chunk(0, {"content": "Hi"}), chunk(1, {}, "stop")]
    with telemetry.paused():
        expected = replay(server, orq_client, content)
    usage_only = {**chunk(2, {}), "choices": [], "usage": RECORDED_USAGE}
    received = replay(server, orq_client, [*content, usage_only])
    assert received == expected
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.input_tokens"] == 9


def test_usage_on_the_last_content_chunk_reaches_a_caller_who_asked_for_it(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    events = [chunk(0, {"content": "Hi"}, usage=None), chunk(1, {}, "stop", usage=RECORDED_USAGE)]
    server.script(RawReply.event_stream(events))
    options = {"include_usage": True}
    chunks = list(CALLS["chat"](orq_client, stream=True, stream_options=options))
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2
    assert (telemetry.only_span().attributes or {})["gen_ai.usage.output_tokens"] == 2


def test_a_call_recorder_hears_the_request_each_chunk_and_the_end(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    # The seam content capture hooks into: made from the request, per chunk, at the end.
    from orq_otel._openai.patches import live

    heard: list[str] = []

    class Recorder:
        def __init__(self, body: Any) -> None:
            heard.append(f"request {body['model']}")

        def on_chunk(self, chunk: Any) -> None:
            heard.append("chunk")

        def on_response(self, response: Any) -> None:
            heard.append(f"response {response is None}")

        def on_end(self, span: Any) -> None:
            span.set_attribute("test.recorded", len(heard))

    instrumentation = live.get()
    assert instrumentation is not None
    instrumentation.services = instrumentation.services._replace(
        recorders=(lambda request, span, subject, common: Recorder(request.body),),
    )
    chunks = list(CALLS["chat"](orq_client, stream=True))
    assert heard[0] == "request gpt-4o-mini"
    assert heard.count("chunk") == len(chunks) + 1  # and the usage-only chunk we hid
    assert heard[-1] == "response True"  # a stream's end has no response object
    assert (telemetry.only_span().attributes or {})["test.recorded"] == len(heard)
