"""Content capture per mode, per API, through the real openai client at the local server:
the exact JSON on the span and on the event, for chat (tools, streams, parse), completions
and the Responses API, sync and async; off by default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor, use_identity
from orq_otel.testing import LocalOpenAIServer, MessageReply, RawReply, ToolCall

CONTENT_ATTRIBUTES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
)
EVENT = "gen_ai.client.inference.operation.details"
REPLY = "Hello from the local model, offline and private."
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@dataclass
class Capture:
    """An instrumented process whose spans, events and metrics stay in memory."""

    spans_exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    logs_exporter: InMemoryLogRecordExporter = field(default_factory=InMemoryLogRecordExporter)
    metric_reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    instrumentor: OrqInstrumentor = field(default_factory=OrqInstrumentor)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_exporter))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs_exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])

    def instrument(self, **options: Any) -> None:
        if self.instrumentor.is_instrumented_by_opentelemetry:
            self.instrumentor.uninstrument()
        self.instrumentor.instrument(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            **options,
        )

    def only_span(self) -> ReadableSpan:
        spans = self.spans_exporter.get_finished_spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]

    def content(self, span: ReadableSpan | None = None) -> dict[str, Any]:
        """The content attributes of the span, parsed (each must be valid JSON)."""
        attributes = (span or self.only_span()).attributes or {}
        return {
            name: json.loads(str(attributes[name]))
            for name in CONTENT_ATTRIBUTES
            if name in attributes
        }

    def events(self) -> list[Any]:
        return [
            log.log_record
            for log in self.logs_exporter.get_finished_logs()
            if log.log_record.event_name == EVENT
        ]


def capturing() -> Iterator[Capture]:
    """The `capture` fixture of every test_content_* module."""
    state = Capture()
    state.instrument()
    yield state
    state.instrumentor.uninstrument()


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def chat_with_weather(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
        tools=[WEATHER_TOOL],
        **kwargs,
    )


WEATHER_DEFINITION = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CHAT_INPUT = [
    {"role": "system", "parts": [text("You are terse.")]},
    {"role": "user", "parts": [text("Weather in Paris?")]},
]


@pytest.mark.parametrize("stream", [False, True])
def test_nothing_is_recorded_by_default(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI, stream: bool
) -> None:
    server.script(MessageReply("Sunny", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    result = chat_with_weather(plain_client, stream=stream)
    if stream:
        list(result)
    attributes = capture.only_span().attributes or {}
    assert [name for name in attributes if name.startswith(("gen_ai.input", "gen_ai.output"))] == []
    assert capture.content() == {}
    assert capture.events() == []


@pytest.mark.parametrize("stream", [False, True])
def test_span_only_records_chat_input_tools_and_the_tool_call_asked_for(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI, stream: bool
) -> None:
    capture.instrument(capture_content="span_only")
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_1")
    server.script(MessageReply("Checking.", tool_calls=[call]))
    result = chat_with_weather(plain_client, stream=stream)
    if stream:
        list(result)
    assert capture.content() == {
        "gen_ai.input.messages": CHAT_INPUT,
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [
                    text("Checking."),
                    {
                        "type": "tool_call",
                        "id": "call_1",
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                    },
                ],
                "finish_reason": "tool_call",
            }
        ],
        "gen_ai.tool.definitions": [WEATHER_DEFINITION],
    }
    assert capture.only_span().attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)  # type: ignore[index]
    assert capture.events() == []


def test_a_tool_result_sent_back_is_a_tool_call_response(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    plain_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'},
        ],
    )
    assert capture.content()["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text("Weather in Paris?")]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": "call_1", "response": '{"celsius": 21}'}
            ],
        },
    ]


def _chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def _call_fragment(index: int, arguments: str, **first: Any) -> dict[str, Any]:
    function = {"arguments": arguments, **({"name": first["name"]} if first else {})}
    call = {"index": index, "function": function}
    if first:
        call.update(id=first["id"], type="function")
    return {"tool_calls": [call]}


FRAGMENTED_STREAM = [
    _chunk(0, {"role": "assistant", "content": "Let me "}),
    _chunk(1, {"role": "assistant", "content": "Other "}),
    _chunk(0, _call_fragment(0, '{"ci', id="call_a", name="get_weather")),
    _chunk(0, _call_fragment(1, '{"city": "Rome"}', id="call_b", name="get_weather")),
    _chunk(0, {"content": "check."}),
    _chunk(0, _call_fragment(0, 'ty": "Paris"}')),
    _chunk(1, {"content": "choice."}, "stop"),
    _chunk(0, {}, "tool_calls"),
]


def test_a_stream_assembles_text_and_tool_call_fragments_per_choice_and_index(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    server.script(RawReply.event_stream(FRAGMENTED_STREAM))
    chunks = list(chat_with_weather(plain_client, stream=True, n=2))
    assert len(chunks) == len(FRAGMENTED_STREAM)  # the caller got every chunk
    paris = {"type": "tool_call", "id": "call_a", "name": "get_weather"}
    rome = {"type": "tool_call", "id": "call_b", "name": "get_weather"}
    assert capture.content()["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [
                text("Let me check."),
                {**paris, "arguments": {"city": "Paris"}},
                {**rome, "arguments": {"city": "Rome"}},
            ],
            "finish_reason": "tool_call",
        },
        {"role": "assistant", "parts": [text("Other choice.")], "finish_reason": "stop"},
    ]


def test_an_abandoned_stream_records_what_it_had_finished_with_error(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    server.script(RawReply.event_stream(FRAGMENTED_STREAM))
    stream = chat_with_weather(plain_client, stream=True, n=2)
    for _ in range(3):
        next(stream)
    stream.close()
    assert capture.content()["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [
                text("Let me "),
                {"type": "tool_call", "id": "call_a", "name": "get_weather", "arguments": '{"ci'},
            ],
            "finish_reason": "error",
        },
        {"role": "assistant", "parts": [text("Other ")], "finish_reason": "error"},
    ]


def test_a_failed_call_records_its_input(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only")
    with pytest.raises(openai.InternalServerError):
        plain_client.with_options(max_retries=0).chat.completions.create(
            model="error-500", messages=[{"role": "user", "content": "Hi"}]
        )
    assert capture.content() == {"gen_ai.input.messages": [{"role": "user", "parts": [text("Hi")]}]}


def test_parse_records_the_parsed_reply(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    server.script(MessageReply('{"city": "Paris"}'))
    plain_client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "City?"}]
    )
    assert capture.content()["gen_ai.output.messages"] == [
        {"role": "assistant", "parts": [text('{"city": "Paris"}')], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_completions_record_prompt_and_text(
    capture: Capture, plain_client: openai.OpenAI, stream: bool
) -> None:
    capture.instrument(capture_content="span_only")
    result = plain_client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once upon", stream=stream
    )
    if stream:
        list(result)
    assert capture.content() == {
        "gen_ai.input.messages": [{"role": "user", "parts": [text("Once upon")]}],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [text(REPLY)], "finish_reason": "stop"}
        ],
    }


RESPONSES_INPUT: Any = [
    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "21 C"},
]
RESPONSES_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object"},
    "strict": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_the_responses_api_records_instructions_items_tools_and_output(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI, stream: bool
) -> None:
    capture.instrument(capture_content="span_only")
    server.script(
        MessageReply("Also Rome?", tool_calls=[ToolCall("get_weather", {"city": "Rome"}, id="c2")])
    )
    result = plain_client.responses.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        input=RESPONSES_INPUT,
        tools=[RESPONSES_TOOL],
        stream=stream,
    )
    if stream:
        list(result)
    assert capture.content() == {
        "gen_ai.system_instructions": [text("Be brief.")],
        "gen_ai.input.messages": [
            {"role": "user", "parts": [text("Weather in Paris?")]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {}}
                ],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "call_1", "response": "21 C"}],
            },
        ],
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [
                    text("Also Rome?"),
                    {
                        "type": "tool_call",
                        "id": "c2",
                        "name": "get_weather",
                        "arguments": {"city": "Rome"},
                    },
                ],
                "finish_reason": "tool_call",
            }
        ],
        "gen_ai.tool.definitions": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
        ],
    }


async def test_an_async_stream_records_its_output(
    capture: Capture, async_plain_client: openai.AsyncOpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    stream = await async_plain_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    async for _ in stream:
        pass
    assert capture.content()["gen_ai.output.messages"] == [
        {"role": "assistant", "parts": [text(REPLY)], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("mode", ["event_only", "span_and_event"])
def test_event_modes_emit_the_details_event_with_the_identity_on_the_span_context(
    capture: Capture, plain_client: openai.OpenAI, mode: str
) -> None:
    capture.instrument(capture_content=mode)
    with use_identity(id="user-123"):
        plain_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    span = capture.only_span()
    on_span = capture.content(span)
    (event,) = capture.events()
    attributes = dict(event.attributes or {})
    assert attributes["orq.identity.id"] == "user-123"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert span.context is not None
    assert (event.trace_id, event.span_id) == (span.context.trace_id, span.context.span_id)
    structured = {
        "gen_ai.input.messages": [{"role": "user", "parts": [text("Hi")]}],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [text(REPLY)], "finish_reason": "stop"}
        ],
    }
    as_recorded = {name: attributes[name] for name in CONTENT_ATTRIBUTES if name in attributes}
    assert json.loads(json.dumps(as_recorded, default=list)) == structured
    assert on_span == (structured if mode == "span_and_event" else {})


def test_an_abandoned_responses_stream_records_the_text_it_had(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    stream = plain_client.responses.create(model="gpt-4o-mini", input="Hi", stream=True)
    events = [next(stream) for _ in range(5)]
    stream.close()
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert deltas == ["Hello", " from"]
    assert capture.content()["gen_ai.output.messages"] == [
        {"role": "assistant", "parts": [text("Hello from")], "finish_reason": "error"}
    ]
