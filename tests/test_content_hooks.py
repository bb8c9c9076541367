"""util-genai's completion-hook protocol: the hook gets the redacted, capped content as
util-genai's dataclasses, before any content attribute is set; its `upload` hook writes
the content out and stamps `gen_ai.*_ref` on the span."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.util.genai._upload.completion_hook import UploadCompletionHook
from opentelemetry.util.genai.types import (
    FunctionToolDefinition,
    InputMessage,
    OutputMessage,
    TextPart,
    ToolCallRequestPart,
)
from test_content_capture import WEATHER_TOOL, Capture, capturing

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer, MessageReply, ToolCall

ADA: Any = {"id": "u-1", "display_name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


class RecordingHook:
    """A completion hook that keeps what it was given and what the span had by then."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def on_completion(self, **kwargs: Any) -> None:
        span = kwargs["span"]
        self.calls.append({**kwargs, "span_attributes_then": dict(span.attributes)})


def mail_ada(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    server.script(
        MessageReply("Done.", tool_calls=[ToolCall("send", {"to": "ada@example.com"}, id="c")])
    )
    client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Mail ada@example.com " + "z" * 100}],
        tools=[WEATHER_TOOL],
    )


def test_the_hook_gets_redacted_capped_dataclasses_before_the_attributes_are_set(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    hook = RecordingHook()
    capture.instrument(capture_content="span_only", completion_hook=hook, content_max_length=30)
    with use_identity(**ADA):
        mail_ada(server, plain_client)
    ((given),) = hook.calls
    assert given["inputs"] == [
        InputMessage(
            role="user",
            parts=[TextPart(content="Mail [identity.email] zzzzzzzz...[truncated 92 characters]")],
        )
    ]
    assert given["outputs"] == [
        OutputMessage(
            role="assistant",
            parts=[
                TextPart(content="Done."),
                ToolCallRequestPart(arguments={"to": "[identity.email]"}, name="send", id="c"),
            ],
            finish_reason="tool_call",
        )
    ]
    assert given["system_instruction"] == []
    assert given["tool_definitions"] == [
        FunctionToolDefinition(
            name="get_weather",
            description="Weather in a city",
            parameters=WEATHER_TOOL["function"]["parameters"],
        )
    ]
    assert "gen_ai.input.messages" not in given["span_attributes_then"]  # hook first
    assert given["span"] is not None
    assert given["log_record"] is None  # no event mode
    assert "gen_ai.input.messages" in (capture.only_span().attributes or {})


def test_the_hook_runs_without_inline_capture_but_not_for_an_identity_that_refuses(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    hook = RecordingHook()
    capture.instrument(completion_hook=hook)  # the ceiling stays no_content
    with use_identity(**ADA):
        mail_ada(server, plain_client)
    with use_identity(id="u-2", tags=["content_capture:refused"]):
        mail_ada(server, plain_client)
    assert len(hook.calls) == 1
    assert [capture.content(span) for span in capture.spans_exporter.get_finished_spans()] == [
        {},
        {},
    ]


def test_a_hook_that_raises_costs_the_call_nothing_but_the_hook(
    capture: Capture,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def on_completion(self, **kwargs: Any) -> None:
            raise RuntimeError(str(kwargs["inputs"]))

    capture.instrument(capture_content="span_only", completion_hook=Broken())
    with use_identity(**ADA):
        mail_ada(server, plain_client)
    assert capture.content()["gen_ai.output.messages"][0]["parts"][0]["content"] == "Done."
    messages = [record.getMessage() for record in caplog.records if record.name == "orq_otel"]
    assert messages == ["the completion hook raised; content recorded without it (logged once)"]


def _uploaded(reference: str) -> Any:
    """The JSON a reference points at (a `file:` URI under the local base path)."""
    return json.loads(Path(reference.removeprefix("file:")).read_text())


def test_the_upload_hook_writes_redacted_content_and_stamps_references(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI, tmp_path: Path
) -> None:
    hook = UploadCompletionHook(base_path=str(tmp_path))
    capture.instrument(capture_content="span_and_event", completion_hook=hook)
    with use_identity(**ADA):
        mail_ada(server, plain_client)
    hook.shutdown(timeout_sec=10)
    attributes = capture.only_span().attributes or {}
    references = {name: str(value) for name, value in attributes.items() if name.endswith("_ref")}
    assert sorted(references) == [
        "gen_ai.input.messages_ref",
        "gen_ai.output.messages_ref",
        "gen_ai.tool.definitions_ref",
    ]
    inputs = _uploaded(references["gen_ai.input.messages_ref"])
    assert inputs[0]["parts"][0]["content"].startswith("Mail [identity.email] zzz")
    outputs = _uploaded(references["gen_ai.output.messages_ref"])
    assert outputs[0]["parts"][1]["arguments"] == {"to": "[identity.email]"}
    assert "ada@example.com" not in json.dumps([inputs, outputs])
    (event,) = capture.events()
    assert (event.attributes or {})["gen_ai.input.messages_ref"] == references[
        "gen_ai.input.messages_ref"
    ]


def test_the_upload_hook_named_by_util_genais_variables_is_used(
    capture: Capture,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK", "upload")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH", str(tmp_path))
    capture.instrument()
    plain_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    attributes = capture.only_span().attributes or {}
    reference = str(attributes["gen_ai.input.messages_ref"])
    assert reference.endswith("_inputs.json")
    assert str(tmp_path) in reference
    assert "gen_ai.input.messages" not in attributes  # references only, as configured
