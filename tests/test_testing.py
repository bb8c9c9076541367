"""`orq_otel.testing.LocalOpenAIServer`: scripted replies, recorded requests, prompt replies."""

from __future__ import annotations

import json
import socket
from typing import Any

import openai
import pytest
from conftest import MESSAGES

from orq_otel.testing import LocalOpenAIServer, MessageReply, RawReply, ToolCall, _server

WEATHER = ToolCall("get_weather", {"city": "Paris"}, id="call_1")


def test_a_scripted_tool_call_comes_back_as_openai_parses_it(
    server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    server.script(MessageReply(tool_calls=[WEATHER]))
    choice = plain_client.chat.completions.create(model="m", messages=MESSAGES).choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.id == "call_1"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_a_scripted_tool_call_streams(
    server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    server.script(MessageReply(tool_calls=[WEATHER]))
    with plain_client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_a_scripted_tool_call_on_the_responses_api(
    server: LocalOpenAIServer, plain_client: openai.OpenAI, stream: bool
) -> None:
    server.script(MessageReply(tool_calls=[WEATHER]))
    response: Any
    if stream:
        with plain_client.responses.stream(model="m", input="weather?") as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        response = plain_client.responses.create(model="m", input="weather?")
    (item,) = response.output
    assert item.type == "function_call"
    assert (item.name, json.loads(item.arguments)) == ("get_weather", {"city": "Paris"})


def test_scripted_replies_are_used_in_order_then_the_default_comes_back(
    server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    server.script(MessageReply('{"a": 1}'), MessageReply("second"))
    replies = [
        plain_client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message
        for _ in range(3)
    ]
    assert [reply.content for reply in replies] == [
        '{"a": 1}',
        "second",
        "Hello from the local model, offline and private.",
    ]


def test_a_raw_reply_is_sent_byte_for_byte(server: LocalOpenAIServer) -> None:
    body = b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}'
    server.script(RawReply(body, headers={"x-recorded": "yes"}))
    with server.client() as client:
        response = client.chat.completions.with_raw_response.create(model="m", messages=[])
    assert response.http_response.content == body
    assert response.headers["x-recorded"] == "yes"


def test_clear_forgets_unused_scripted_replies(
    server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    server.script(MessageReply("never used"))
    server.clear()
    reply = plain_client.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content != "never used"


def test_replies_go_out_without_waiting_for_a_delayed_ack(
    server: LocalOpenAIServer, plain_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Headers and body are two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK (about 40 ms a reply).
    seen: list[Any] = []
    original = _server._Handler.setup

    def setup(handler: Any) -> None:
        original(handler)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(_server._Handler, "setup", setup)
    with server.client() as client:  # a new connection, set up by the patched handler
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert seen
    assert all(seen)
