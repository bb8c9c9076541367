"""What the local OpenAI-compatible server (`orq_otel.testing`) answers on the Responses API:
a response object, or its server-sent events, with the reply's text and function calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

from orq_otel.testing._replies import Reply


def _output(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.message.content is not None:
        items.append(
            {
                "type": "message",
                "id": f"msg_{reply.response_id}",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": reply.message.content, "annotations": []}
                ],
            }
        )
    for index, call in enumerate(reply.message.tool_calls):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{reply.response_id}_{index}",
                "call_id": reply.call_id(index, call),
                "name": call.name,
                "arguments": call.arguments_text,
                "status": "completed",
            }
        )
    return items


def response(reply: Reply, status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": reply.response_id,
        "object": "response",
        "created_at": reply.created,
        "status": status,
        "model": reply.response_model,
        "output": _output(reply) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": reply.usage().responses() if done else None,
    }


def response_events(reply: Reply) -> Iterator[dict[str, Any]]:
    sequence = count()
    yield {
        "type": "response.created",
        "sequence_number": next(sequence),
        "response": response(reply, "in_progress"),
    }
    for output_index, item in enumerate(_output(reply)):
        events = _message_events if item["type"] == "message" else _function_call_events
        for event in events(item, output_index):
            yield {**event, "sequence_number": next(sequence)}
    yield {
        "type": "response.completed",
        "sequence_number": next(sequence),
        "response": response(reply),
    }


def _message_events(item: dict[str, Any], output_index: int) -> Iterator[dict[str, Any]]:
    yield {
        "type": "response.output_item.added",
        "output_index": output_index,
        "item": {**item, "status": "in_progress", "content": []},
    }
    yield {
        "type": "response.content_part.added",
        "item_id": item["id"],
        "output_index": output_index,
        "content_index": 0,
        "part": {"type": "output_text", "text": "", "annotations": []},
    }
    for i, word in enumerate(item["content"][0]["text"].split(" ")):
        yield {
            "type": "response.output_text.delta",
            "item_id": item["id"],
            "output_index": output_index,
            "content_index": 0,
            "delta": word if i == 0 else " " + word,
            "logprobs": [],
        }


def _function_call_events(item: dict[str, Any], output_index: int) -> Iterator[dict[str, Any]]:
    yield {
        "type": "response.output_item.added",
        "output_index": output_index,
        "item": {**item, "status": "in_progress", "arguments": ""},
    }
    yield {
        "type": "response.function_call_arguments.delta",
        "item_id": item["id"],
        "output_index": output_index,
        "delta": item["arguments"],
    }
    yield {
        "type": "response.function_call_arguments.done",
        "item_id": item["id"],
        "output_index": output_index,
        "arguments": item["arguments"],
    }
    yield {"type": "response.output_item.done", "output_index": output_index, "item": item}
