"""Redaction before anything is recorded or hooked: the identity's own e-mail and display
name, then the user's redactor, which sees every part (tool-call arguments included) and
fails closed. And content goes nowhere else: not on metrics, in baggage, in our logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import baggage
from test_content_capture import WEATHER_TOOL, Capture, capturing

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer, MessageReply, ToolCall

ADA: Any = {"id": "u-1", "display_name": "Ada Lovelace", "email": "ada@example.com"}
SECRET_WORDS = ("ada@example.com", "Ada Lovelace", "ADA@EXAMPLE.COM", "ada lovelace", "Paris")


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


def call_about_ada(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    arguments = {"to": "ADA@EXAMPLE.COM", "city": "Paris", "note": "for ada lovelace"}
    server.script(
        MessageReply("Dear Ada Lovelace,", tool_calls=[ToolCall("send", arguments, id="c")])
    )
    client.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "The user is Ada Lovelace <ada@example.com>."},
            {"role": "user", "content": "Mail me at ada@example.com about Paris. Also: Adalbert."},
        ],
        tools=[WEATHER_TOOL],
    )


def test_the_identity_email_and_name_become_placeholders_everywhere(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
    content = capture.content()
    assert content["gen_ai.input.messages"] == [
        {
            "role": "system",
            "parts": [
                {
                    "type": "text",
                    "content": "The user is [identity.display_name] <[identity.email]>.",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "type": "text",
                    "content": "Mail me at [identity.email] about Paris. Also: Adalbert.",
                }
            ],
        },
    ]
    assert content["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Dear [identity.display_name],"},
                {
                    "type": "tool_call",
                    "id": "c",
                    "name": "send",
                    "arguments": {
                        "to": "[identity.email]",
                        "city": "Paris",
                        "note": "for [identity.display_name]",
                    },
                },
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_identity_redaction_can_be_turned_off(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_redact_identity=False)
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
    assert "ada@example.com" in json.dumps(capture.content())


def test_the_redactor_sees_every_part_and_what_it_returns_is_recorded(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    seen: list[tuple[dict[str, Any], Any]] = []

    def redactor(content: dict[str, Any], identity: Any) -> dict[str, Any]:
        seen.append((json.loads(json.dumps(content)), identity))
        redacted: dict[str, Any] = json.loads(json.dumps(content).replace("Paris", "[city]"))
        return redacted

    capture.instrument(capture_content="span_only", content_redactor=redactor)
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
    ((content, identity),) = seen
    assert identity.id == "u-1"
    assert sorted(content) == ["input", "output", "system_instructions", "tool_definitions"]
    tool_call = content["output"][0]["parts"][1]
    assert tool_call["arguments"] == {
        "to": "[identity.email]",  # the identity is already out
        "city": "Paris",
        "note": "for [identity.display_name]",
    }
    assert content["tool_definitions"][0]["name"] == "get_weather"
    recorded = json.dumps(capture.content())
    assert "Paris" not in recorded
    assert recorded.count("[city]") == 2


@pytest.mark.parametrize("answer", [None, "not content", {"input": "not a list"}])
def test_a_redactor_answering_none_or_nonsense_records_no_content(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI, answer: Any
) -> None:
    capture.instrument(capture_content="span_and_event", content_redactor=lambda c, i: answer)
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
    assert capture.content() == {}
    assert capture.events() == []


def test_a_redactor_that_raises_records_nothing_and_logs_once_without_content(
    capture: Capture,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def redactor(content: dict[str, Any], identity: Any) -> dict[str, Any]:
        raise ValueError(json.dumps(content))  # an error message full of content

    capture.instrument(capture_content="span_and_event", content_redactor=redactor)
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
        call_about_ada(server, plain_client)
    spans = capture.spans_exporter.get_finished_spans()
    assert [capture.content(span) for span in spans] == [{}, {}]
    ours = [record for record in caplog.records if record.name == "orq_otel"]
    assert [record.getMessage() for record in ours] == [
        "content_redactor raised ValueError; calls it raises for record no content (logged once)"
    ]
    assert ours[0].exc_info is None  # no traceback: its message holds the content


def test_content_goes_nowhere_but_the_span_and_the_event(
    capture: Capture,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture.instrument(capture_content="span_and_event", content_redact_identity=False)
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
        in_baggage = json.dumps(dict(baggage.get_all()))
    sent_with_capture = server.requests[-1].json
    metrics = capture.metric_reader.get_metrics_data()
    assert metrics is not None
    metric_text = metrics.to_json()
    everything_else = {
        "metrics": metric_text,
        "baggage": in_baggage,
        "logs": " ".join(record.getMessage() for record in caplog.records),
    }
    assert capture.content()  # it was recorded, on the span...
    for channel, text in everything_else.items():
        assert "Paris" not in text, channel  # ...and nowhere else
    capture.instrument()
    with use_identity(**ADA):
        call_about_ada(server, plain_client)
    assert server.requests[-1].json == sent_with_capture  # the request is not changed either
