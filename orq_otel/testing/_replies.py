"""What the local OpenAI-compatible server (`orq_otel.testing`) answers: Chat Completions,
Completions and Embeddings (the Responses API is in `_responses`, transcriptions in
`_transcriptions`).

Deterministic: token counts are word counts and the default reply is a fixed sentence, so
tests can assert exact numbers. A scripted `MessageReply` replaces the sentence with its
own text and tool calls.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

REPLY = "Hello from the local model, offline and private."
EMBEDDING_SIZE = 8


@dataclass(frozen=True)
class ToolCall:
    """A function call the local model makes: `ToolCall("get_weather", {"city": "Paris"})`."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class MessageReply:
    """A scripted reply: the assistant's text, tool calls, or both.

    The server renders it for whichever endpoint is called, as JSON or as a stream.
    """

    content: str | None = None
    tool_calls: Sequence[ToolCall] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


DEFAULT_MESSAGE = MessageReply(REPLY)


@dataclass
class Usage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


def words_in(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: the number of words in any text inside."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(words_in(item) for item in value.values())
    if isinstance(value, list):
        return sum(words_in(item) for item in value)
    return 0


@dataclass
class Reply:
    """What the server answers to one request body."""

    body: dict[str, Any]
    response_id: str
    cached_tokens: int
    reasoning_tokens: int
    message: MessageReply = DEFAULT_MESSAGE
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def model(self) -> str:
        return str(self.body.get("model", "local-model"))

    @property
    def response_model(self) -> str:
        return f"{self.model}-0001"  # a dated snapshot name, as real APIs answer

    @property
    def words(self) -> list[str]:
        return (self.message.content or "").split(" ") if self.message.content else []

    def usage(self) -> Usage:
        messages = self.body.get("messages")
        if isinstance(messages, list):  # count what was said, not the roles
            prompt: Any = [m.get("content") for m in messages if isinstance(m, Mapping)]
        else:
            prompt = self.body.get("prompt", self.body.get("input"))
        output = len(self.words) + sum(
            words_in(call.name) + words_in(call.arguments) for call in self.message.tool_calls
        )
        return Usage(max(words_in(prompt), 1), output, self.cached_tokens, self.reasoning_tokens)

    def wants_stream_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, Mapping) and bool(options.get("include_usage"))

    def call_id(self, index: int, call: ToolCall) -> str:
        return call.id or f"call_{self.response_id}_{index}"

    # --- chat completions --------------------------------------------------------------

    def _chat_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.message.content,
            "refusal": None,
        }
        if self.message.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self.call_id(index, call),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_text},
                }
                for index, call in enumerate(self.message.tool_calls)
            ]
        return message

    def chat(self) -> dict[str, Any]:
        choices = [
            {
                "index": index,
                "message": self._chat_message(),
                "finish_reason": self.message.finish_reason,
                "logprobs": None,
            }
            for index in range(int(self.body.get("n") or 1))
        ]
        return {
            "id": self.response_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.response_model,
            "choices": choices,
            "usage": self.usage().chat(),
        }

    def _chat_deltas(self) -> Iterator[tuple[dict[str, Any], str | None]]:
        yield {"role": "assistant", "content": ""}, None
        for i, word in enumerate(self.words):
            yield {"content": word if i == 0 else " " + word}, None
        for index, call in enumerate(self.message.tool_calls):
            function = {"name": call.name, "arguments": call.arguments_text}
            tool_call = {"index": index, "id": self.call_id(index, call), "type": "function"}
            yield {"tool_calls": [{**tool_call, "function": function}]}, None
        yield {}, self.message.finish_reason

    def chat_chunks(self) -> Iterator[dict[str, Any]]:
        with_usage = self.wants_stream_usage()
        for delta, finish_reason in self._chat_deltas():
            chunk: dict[str, Any] = {
                "id": self.response_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.response_model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if with_usage:
                chunk["usage"] = None
            yield chunk
        if with_usage:
            yield self._usage_chunk("chat.completion.chunk")

    def _usage_chunk(self, object_type: str) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": object_type,
            "created": self.created,
            "model": self.response_model,
            "choices": [],
            "usage": self.usage().chat(),
        }

    # --- legacy completions ------------------------------------------------------------

    def completion(self) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "text_completion",
            "created": self.created,
            "model": self.response_model,
            "choices": [
                {
                    "index": 0,
                    "text": self.message.content or "",
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": self.usage().chat(),
        }

    def completion_chunks(self) -> Iterator[dict[str, Any]]:
        with_usage = self.wants_stream_usage()
        last = len(self.words) - 1
        for i, word in enumerate(self.words):
            chunk: dict[str, Any] = {
                "id": self.response_id,
                "object": "text_completion",
                "created": self.created,
                "model": self.response_model,
                "choices": [
                    {
                        "index": 0,
                        "text": word if i == 0 else " " + word,
                        "finish_reason": "stop" if i == last else None,
                        "logprobs": None,
                    }
                ],
            }
            if with_usage:
                chunk["usage"] = None
            yield chunk
        if with_usage:
            yield self._usage_chunk("text_completion")

    # --- embeddings --------------------------------------------------------------------

    def embeddings(self) -> dict[str, Any]:
        inputs = self.body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        as_base64 = self.body.get("encoding_format") == "base64"
        data = []
        for index, _ in enumerate(items):
            vector = [round(0.1 * (index + 1) * (d + 1), 3) for d in range(EMBEDDING_SIZE)]
            packed = base64.b64encode(struct.pack(f"<{EMBEDDING_SIZE}f", *vector)).decode()
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": packed if as_base64 else vector,
                }
            )
        usage = self.usage()
        return {
            "object": "list",
            "data": data,
            "model": self.response_model,
            "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
        }
