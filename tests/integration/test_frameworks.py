"""Frameworks no one here wrote, driving the real openai client at the local server.

LiteLLM calls `client.post(...)` and `with_raw_response` directly; instructor keeps the
`create` method it found when the client was wrapped. Both must be covered, whenever
`instrument()` runs. These frameworks pin their own dependencies, so `.ci/run` installs
them into `.venv-frameworks` (`pip install -e '.[frameworks]'`) and runs this file there;
elsewhere it is skipped.
"""

from __future__ import annotations

import os
from typing import Any

import pydantic
import pytest
from conftest import REPLY_TOKENS, Telemetry

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer, MessageReply, ToolCall

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
litellm = pytest.importorskip(
    "litellm", reason="installed by .ci/run into .venv-frameworks (pip install -e '.[frameworks]')"
)
instructor = pytest.importorskip("instructor", reason="installed with litellm, see above")

MESSAGES: Any = [{"role": "user", "content": "Say hello to the user"}]


@pytest.fixture
def orq_local(telemetry: Telemetry) -> Telemetry:
    """The local server's own address counts as an orq host: frameworks build their own
    HTTP clients, so they cannot be pointed through the local server as a proxy."""
    telemetry.instrument(inject_hosts=["127.0.0.1"])
    return telemetry


def litellm_options(server: LocalOpenAIServer) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": "local-test-key"}


def llm_span(telemetry: Telemetry) -> dict[str, Any]:
    return dict(telemetry.only_span().attributes or {})


def test_litellm_completion_is_traced_and_injected(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    with use_identity(id="user-litellm"):
        reply = litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, **litellm_options(server)
        )
    assert reply.choices[0].message.content
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-litellm"}}
    attributes = llm_span(orq_local)
    assert attributes["orq.identity.id"] == "user-litellm"
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_litellm_stream_is_one_span_with_usage_when_asked(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    chunks = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **litellm_options(server),
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Hello from the local model, offline and private."
    attributes = llm_span(orq_local)
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


async def test_litellm_acompletion_keeps_the_callers_identity(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    with use_identity(id="user-async"):
        await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, **litellm_options(server)
        )
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-async"}}
    assert llm_span(orq_local)["orq.identity.id"] == "user-async"


async def test_litellm_async_stream_is_traced(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    chunks = await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **litellm_options(server)
    )
    assert [chunk async for chunk in chunks]
    assert llm_span(orq_local)["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.parametrize("encoding_format", [None, "float"])
def test_litellm_embedding_is_traced(
    orq_local: Telemetry, server: LocalOpenAIServer, encoding_format: str | None
) -> None:
    # Without encoding_format LiteLLM posts itself; with it, it calls with_raw_response.
    extra = {"encoding_format": encoding_format} if encoding_format else {}
    with use_identity(id="user-embed"):
        result = litellm.embedding(
            model="openai/text-embedding-3-small",
            input=["Say hello"],
            **litellm_options(server),
            **extra,
        )
    assert len(result.data[0]["embedding"]) == 8
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-embed"}}
    attributes = llm_span(orq_local)
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 2


def test_litellm_extra_body_identity_is_the_one_recorded(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    with use_identity(id="ambient"):
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            extra_body={"orq": {"identity": {"id": "user-explicit"}}},
            **litellm_options(server),
        )
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-explicit"}}
    assert llm_span(orq_local)["orq.identity.id"] == "user-explicit"


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


def test_instructor_client_made_before_instrument_is_covered(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    with telemetry.paused():  # e.g. at module level, with instrument() in main()
        client = instructor.from_openai(server.client())
    telemetry.instrument(inject_hosts=["127.0.0.1"])
    server.script(MessageReply(tool_calls=[ToolCall("Weather", {"city": "Paris", "celsius": 21})]))
    with use_identity(id="user-instructor"):
        weather = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, response_model=Weather
        )
    assert weather.model_dump() == {"city": "Paris", "celsius": 21}
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-instructor"}}
    attributes = llm_span(telemetry)
    assert attributes["orq.identity.id"] == "user-instructor"
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


async def test_async_instructor_client_is_covered(
    orq_local: Telemetry, server: LocalOpenAIServer
) -> None:
    client = instructor.from_openai(server.async_client(), mode=instructor.Mode.JSON)
    server.script(MessageReply('{"city": "Oslo", "celsius": 3}'))
    weather = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_model=Weather
    )
    assert weather.model_dump() == {"city": "Oslo", "celsius": 3}
    assert llm_span(orq_local)["gen_ai.request.model"] == "gpt-4o-mini"
