"""What the local OpenAI-compatible server (`orq_otel.testing`) answers, endpoint by endpoint.

Deterministic: token counts are word counts, the reply is a fixed sentence, so tests can
assert exact numbers.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

REPLY = "Hello from the local model, offline and private."
EMBEDDING_SIZE = 8


@dataclass
class _Usage:
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


def _words(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: the number of words in any text inside."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(_words(item) for item in value.values())
    if isinstance(value, list):
        return sum(_words(item) for item in value)
    return 0


@dataclass
class Reply:
    """What the server answers to one request body."""

    body: dict[str, Any]
    response_id: str
    cached_tokens: int
    reasoning_tokens: int
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def model(self) -> str:
        return str(self.body.get("model", "local-model"))

    @property
    def response_model(self) -> str:
        return f"{self.model}-0001"  # a dated snapshot name, as real APIs answer

    @property
    def words(self) -> list[str]:
        return REPLY.split(" ")

    def usage(self) -> _Usage:
        messages = self.body.get("messages")
        if isinstance(messages, list):  # count what was said, not the roles
            prompt: Any = [m.get("content") for m in messages if isinstance(m, Mapping)]
        else:
            prompt = self.body.get("prompt", self.body.get("input"))
        return _Usage(
            max(_words(prompt), 1), len(self.words), self.cached_tokens, self.reasoning_tokens
        )

    def wants_stream_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, Mapping) and bool(options.get("include_usage"))

    # --- chat completions --------------------------------------------------------------

    def chat(self) -> dict[str, Any]:
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "finish_reason": "stop",
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

    def chat_chunks(self) -> Iterator[dict[str, Any]]:
        with_usage = self.wants_stream_usage()
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None)
        ]
        deltas += [
            ({"content": word if i == 0 else " " + word}, None) for i, word in enumerate(self.words)
        ]
        deltas.append(({}, "stop"))
        for delta, finish_reason in deltas:
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
            "choices": [{"index": 0, "text": REPLY, "finish_reason": "stop", "logprobs": None}],
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

    # --- responses ---------------------------------------------------------------------

    def response(self, status: str = "completed") -> dict[str, Any]:
        done = status == "completed"
        message = {
            "type": "message",
            "id": f"msg_{self.response_id}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": REPLY, "annotations": []}],
        }
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.response_model,
            "output": [message] if done else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": self.usage().responses() if done else None,
        }

    def response_events(self) -> Iterator[dict[str, Any]]:
        sequence = count()
        yield {
            "type": "response.created",
            "sequence_number": next(sequence),
            "response": self.response("in_progress"),
        }
        message = self.response()["output"][0]
        yield {
            "type": "response.output_item.added",
            "sequence_number": next(sequence),
            "output_index": 0,
            "item": {**message, "status": "in_progress", "content": []},
        }
        yield {
            "type": "response.content_part.added",
            "sequence_number": next(sequence),
            "item_id": message["id"],
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        for i, word in enumerate(self.words):
            yield {
                "type": "response.output_text.delta",
                "sequence_number": next(sequence),
                "item_id": f"msg_{self.response_id}",
                "output_index": 0,
                "content_index": 0,
                "delta": word if i == 0 else " " + word,
                "logprobs": [],
            }
        yield {
            "type": "response.completed",
            "sequence_number": next(sequence),
            "response": self.response(),
        }
