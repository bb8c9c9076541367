"""One CLIENT span per call, with GenAI semantic-convention and identity attributes."""

from __future__ import annotations

import json
import logging

import openai
import pytest
from conftest import (
    CACHED_TOKENS,
    CALLS,
    ENDPOINTS,
    REASONING_TOKENS,
    Telemetry,
)
from opentelemetry.trace import SpanKind, StatusCode

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

INPUT_TOKENS = 5  # "Say hello to the user", as the local server counts
OUTPUT_TOKENS = 8  # the local server's reply has eight words


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_each_endpoint_gets_one_client_span_with_genai_attributes(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    result = CALLS[endpoint](orq_client)
    span = telemetry.only_span()
    attributes = dict(span.attributes or {})
    assert span.name == ENDPOINTS[endpoint].span_name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attributes["gen_ai.operation.name"] == ENDPOINTS[endpoint].operation
    assert attributes["gen_ai.provider.name"] == "orq"
    assert attributes["gen_ai.request.model"] == span.name.split(" ")[1]
    assert attributes["gen_ai.response.model"] == result.model
    assert attributes["server.address"] == "api.orq.ai"
    assert attributes["server.port"] == 80
    assert attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


@pytest.mark.parametrize("endpoint", ["chat", "chat_parse", "completions", "responses"])
def test_generation_spans_carry_response_id_finish_reasons_and_all_token_counts(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str
) -> None:
    result = CALLS[endpoint](orq_client)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.response.id"] == result.id
    expected_reason = "completed" if endpoint == "responses" else "stop"
    assert attributes["gen_ai.response.finish_reasons"] == (expected_reason,)
    assert attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == CACHED_TOKENS
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == REASONING_TOKENS


def test_other_hosts_are_traced_as_openai(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    CALLS["chat"](plain_client)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == plain_client.base_url.port


def test_request_parameters_given_are_recorded(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    CALLS["chat"](
        plain_client,
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=50,
        frequency_penalty=0.1,
        presence_penalty=0.3,
        seed=7,
        stop=["END"],
        n=2,
    )
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.frequency_penalty"] == 0.1
    assert attributes["gen_ai.request.presence_penalty"] == 0.3
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")


def test_parameters_not_given_are_not_recorded(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    CALLS["chat"](plain_client)
    keys = set(telemetry.only_span().attributes or {})
    assert not {key for key in keys if key.startswith("gen_ai.request.")} - {"gen_ai.request.model"}


def test_embedding_parameters_are_recorded(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    CALLS["embeddings"](plain_client, dimensions=8, encoding_format="float")
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.embeddings.dimension.count"] == 8
    assert attributes["gen_ai.request.encoding_formats"] == ("float",)


def test_identity_attributes_are_on_the_span(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    with use_identity(
        id="user-1",
        display_name="Ada",
        email="ada@example.com",
        tags=["beta", "eu"],
        metadata={"plan": "pro", "seats": 3, "trial": False, "ratio": 0.5, "org": {"id": "acme"}},
    ):
        CALLS["chat"](plain_client)
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.identity.id"] == "user-1"
    assert attributes["enduser.id"] == "user-1"
    assert attributes["user.id"] == "user-1"
    assert attributes["orq.identity.display_name"] == "Ada"
    assert attributes["orq.identity.tags"] == ("beta", "eu")
    assert attributes["orq.identity.metadata.plan"] == "pro"
    assert attributes["orq.identity.metadata.seats"] == 3
    assert attributes["orq.identity.metadata.trial"] is False
    assert attributes["orq.identity.metadata.ratio"] == 0.5
    assert json.loads(str(attributes["orq.identity.metadata.org"])) == {"id": "acme"}


def test_no_email_and_no_content_on_spans_by_default(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    with use_identity(id="user-1", email="ada@example.com"):
        result = CALLS["chat"](plain_client)
    values = [str(value) for value in (telemetry.only_span().attributes or {}).values()]
    assert "orq.identity.email" not in (telemetry.only_span().attributes or {})
    assert not any("ada@example.com" in value for value in values)
    assert not any("Say hello" in value for value in values)  # the prompt
    assert not any(str(result.choices[0].message.content) in value for value in values)


def test_email_is_recorded_when_opted_in(telemetry: Telemetry, plain_client: openai.OpenAI) -> None:
    telemetry.instrument(record_email=True)
    with use_identity(id="user-1", email="ada@example.com"):
        CALLS["chat"](plain_client)
    assert (telemetry.only_span().attributes or {})["orq.identity.email"] == "ada@example.com"


def test_record_email_from_environment(
    telemetry: Telemetry, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_RECORD_EMAIL", "true")
    telemetry.instrument()
    with use_identity(id="user-1", email="ada@example.com"):
        CALLS["chat"](plain_client)
    assert (telemetry.only_span().attributes or {})["orq.identity.email"] == "ada@example.com"


def test_keyword_option_wins_over_environment(
    telemetry: Telemetry, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_RECORD_EMAIL", "true")
    telemetry.instrument(record_email=False)
    with use_identity(id="user-1", email="ada@example.com"):
        CALLS["chat"](plain_client)
    assert "orq.identity.email" not in (telemetry.only_span().attributes or {})


def test_identity_attributes_follow_the_identity_in_effect(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    with use_identity(id="outer"):
        CALLS["chat"](plain_client)
        with use_identity(id="inner"):
            CALLS["chat"](plain_client)
        CALLS["chat"](plain_client)
    CALLS["chat"](plain_client)
    ids = [(span.attributes or {}).get("orq.identity.id") for span in telemetry.spans()]
    assert ids == ["outer", "inner", "outer", None]


@pytest.mark.parametrize("status", [400, 429, 500])
def test_server_error_reaches_caller_unchanged_and_marks_span(
    telemetry: Telemetry, plain_client: openai.OpenAI, status: int
) -> None:
    with telemetry.paused(), pytest.raises(openai.APIStatusError) as without_us:
        plain_client.chat.completions.create(model=f"error-{status}", messages=[])
    with pytest.raises(openai.APIStatusError) as with_us:
        plain_client.chat.completions.create(model=f"error-{status}", messages=[])
    assert type(with_us.value) is type(without_us.value)
    assert with_us.value.status_code == status
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == type(with_us.value).__qualname__
    assert [event.name for event in span.events] == ["exception"]


def test_connection_error_reaches_caller_and_marks_span(telemetry: Telemetry) -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    with client, pytest.raises(openai.APIConnectionError):
        CALLS["chat"](client)
    assert (telemetry.only_span().attributes or {})["error.type"] == "APIConnectionError"


async def test_async_error_reaches_caller_and_marks_span(
    telemetry: Telemetry, async_plain_client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.InternalServerError):
        await async_plain_client.chat.completions.create(model="error-500", messages=[])
    assert telemetry.only_span().status.status_code is StatusCode.ERROR


def test_our_own_failure_is_logged_once_and_the_call_goes_on(
    telemetry: Telemetry,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(response: object) -> dict[str, object]:
        raise RuntimeError("attribute extraction failed")

    monkeypatch.setattr("orq_otel._openai.call.response_attributes", broken)
    with caplog.at_level(logging.ERROR, logger="orq_otel"):
        results = [CALLS["chat"](plain_client) for _ in range(3)]
    assert all(result.choices[0].message.content for result in results)
    assert len([r for r in caplog.records if "orq_otel failed" in r.getMessage()]) == 1


def test_failure_to_start_a_span_leaves_the_request_untouched(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(kwargs: object) -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr("orq_otel._openai.attributes.request_attributes", broken)
    with use_identity(id="u"):
        result = CALLS["chat"](orq_client)
    assert result.choices[0].message.content
    assert telemetry.spans() == []
