"""The ceiling: the standard variable read exactly as opentelemetry-util-genai 1.3 reads
it, our option winning over it, and an app configured for the official instrumentation
getting the same content attributes from orq-otel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai.handler import TelemetryHandler
from opentelemetry.util.genai.types import (
    InputMessage,
    OutputMessage,
    TextPart,
    ToolCallRequestPart,
)
from opentelemetry.util.genai.utils import get_content_capturing_mode
from test_content_capture import Capture, capturing

from orq_otel._openai.patches import live
from orq_otel.testing import LocalOpenAIServer, MessageReply, ToolCall

STANDARD = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Every spelling util-genai takes, and some it refuses (`true` above all).
VALUES = [
    "span_only",
    "SPAN_ONLY",
    " Span_And_Event ",
    "event_only",
    "no_content",
    "true",
    "True",
    "1",
    "span",
    "span-only",
    "",
]


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


WARNING = (
    f"{STANDARD} has a value that is not a capture mode (no_content, span_only, event_only, "
    "span_and_event); no content is recorded (logged once)"
)


def call(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])


def where_recorded(capture: Capture) -> tuple[bool, bool]:
    """(content on the span, content event emitted)."""
    return bool(capture.content()), bool(capture.events())


@pytest.mark.parametrize("value", VALUES)
def test_the_standard_variable_means_what_it_means_to_util_genai(
    capture: Capture,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    value: str,
) -> None:
    monkeypatch.setenv(STANDARD, value)
    official = get_content_capturing_mode().name  # util-genai's own reading
    capture.instrument()
    call(plain_client)
    call(plain_client)
    expected = (
        official in ("SPAN_ONLY", "SPAN_AND_EVENT"),
        official in ("EVENT_ONLY", "SPAN_AND_EVENT"),
    )
    spans = capture.spans_exporter.get_finished_spans()
    assert [where_recorded_of(capture, span) for span in spans] == [expected[0]] * 2
    assert len(capture.events()) == (2 if expected[1] else 0)
    warnings = [r for r in caplog.records if r.name == "orq_otel" and STANDARD in r.getMessage()]
    assert len(warnings) == (
        1 if value.strip() and official == "NO_CONTENT" and value != "no_content" else 0
    )
    # The same words whatever the value: it names the variable, never echoes the value.
    assert {r.getMessage() for r in warnings} <= {WARNING}


def where_recorded_of(capture: Capture, span: Any) -> bool:
    return bool(capture.content(span))


def test_capture_content_wins_over_the_standard_variable(
    capture: Capture, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STANDARD, "span_and_event")
    capture.instrument(capture_content="no_content")
    call(plain_client)
    assert where_recorded(capture) == (False, False)


def test_the_orq_variable_wins_over_the_standard_one(
    capture: Capture, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STANDARD, "true")
    monkeypatch.setenv("ORQ_OTEL_CAPTURE_CONTENT", "Event_Only")
    capture.instrument()
    call(plain_client)
    assert where_recorded(capture) == (False, True)


@pytest.mark.parametrize("value", ["true", "yes", "span"])
def test_a_bad_orq_value_is_an_error_naming_the_option(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ORQ_OTEL_CAPTURE_CONTENT", value)
    with pytest.raises(ValueError, match="capture_content must be one of"):
        capture.instrument()


def test_emit_event_false_takes_the_event_away(
    capture: Capture, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "false")
    capture.instrument(capture_content="span_and_event")
    call(plain_client)
    assert where_recorded(capture) == (True, False)


def _without_nulls(value: Any) -> Any:
    """util-genai writes absent optional fields as null; orq-otel leaves them out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _official_attributes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What util-genai records for the same chat, built as genai-openai builds it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    invocation = TelemetryHandler(tracer_provider=provider).inference("openai", request_model="m")
    invocation.input_messages = [InputMessage(role="user", parts=[TextPart(content="Weather?")])]
    tool_call = ToolCallRequestPart(arguments={"city": "Paris"}, name="get_weather", id="c1")
    invocation.output_messages = [
        OutputMessage(
            role="assistant",
            parts=[TextPart(content="Sure."), tool_call],
            finish_reason="tool_call",
        )
    ]
    invocation.stop()
    return dict(exporter.get_finished_spans()[0].attributes or {})


@pytest.mark.parametrize("semconv_opt_in", [None, "gen_ai_latest_experimental"])
def test_an_app_configured_for_the_official_instrumentation_gets_the_same_attributes(
    capture: Capture,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    semconv_opt_in: str | None,
) -> None:
    monkeypatch.setenv(STANDARD, "span_only")
    if semconv_opt_in:  # util-genai 1.3 no longer needs it; an app may still set it
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", semconv_opt_in)
    official = _official_attributes(monkeypatch)
    capture.instrument()
    server.script(
        MessageReply("Sure.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="c1")])
    )
    plain_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Weather?"}]
    )
    ours = capture.only_span().attributes or {}
    for name in ("gen_ai.input.messages", "gen_ai.output.messages"):
        assert json.loads(str(ours[name])) == _without_nulls(json.loads(str(official[name])))


def test_no_content_costs_no_recorder(capture: Capture, plain_client: openai.OpenAI) -> None:
    """With the ceiling at no_content the call path makes nothing (one attribute check)."""
    call(plain_client)
    instrumentation = live.get()
    assert instrumentation is not None
    assert instrumentation.services.recorders == ()
    assert capture.content() == {}
