"""The Responses API, request and response, as semantic-convention messages: `instructions`
are the system instructions, `input` items the input messages, `output` items one
assistant message (a Responses call has one choice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orq_otel._content import parts as p
from orq_otel._content.parts import Message, Part

_STATUS_REASONS = {"completed": "stop", "failed": "error"}


def _content_part(item: Any, inline: bool) -> Part | None:
    kind = p.field(item, "type")
    if kind in ("input_text", "output_text"):
        return p.text(str(p.field(item, "text") or ""))
    if kind == "refusal":
        return p.text(str(p.field(item, "refusal") or ""))
    if kind == "input_image":
        file_id = p.field(item, "file_id")
        if isinstance(file_id, str):
            return {"type": "file", "modality": "image", "file_id": file_id}
        return p.from_url(p.field(item, "image_url"), "image", inline)
    if kind == "input_file":
        return p.file_part(item, inline)
    return p.generic(kind)


def _reasoning_parts(item: Any) -> list[Part]:
    texts = [p.field(entry, "text") for entry in p.items(p.field(item, "summary"))]
    texts += [p.field(entry, "text") for entry in p.items(p.field(item, "content"))]
    return [p.reasoning(text) for text in texts if isinstance(text, str)]


def _item_part(item: Any, inline: bool) -> tuple[str, list[Part]]:
    """The role and parts an input or output item stands for."""
    kind = p.field(item, "type")
    if kind in ("function_call", "custom_tool_call"):
        arguments = (
            p.field(item, "arguments") if kind == "function_call" else p.field(item, "input")
        )
        return "assistant", [
            p.tool_call(p.field(item, "call_id"), p.field(item, "name"), arguments)
        ]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return "tool", [p.tool_call_response(p.field(item, "call_id"), p.field(item, "output"))]
    if kind == "reasoning":
        return "assistant", _reasoning_parts(item)
    role = p.field(item, "role")
    if kind in (None, "message") and isinstance(role, str):
        return role, p.content_parts(_content_part, p.field(item, "content"), inline)
    server_call = {
        "type": "server_tool_call",
        "name": str(kind),
        "server_tool_call": {"type": kind},
    }
    if p.field(item, "id") is not None:
        server_call["id"] = p.field(item, "id")
    return "assistant", [server_call]


def _merged(turns: list[tuple[str, list[Part]]], merge_roles: frozenset[str]) -> list[Message]:
    """Consecutive items of one role (assistant calls, tool results) make one message."""
    messages: list[Message] = []
    for role, found in turns:
        if messages and messages[-1]["role"] == role and role in merge_roles:
            messages[-1]["parts"].extend(found)
        else:
            messages.append({"role": role, "parts": list(found)})
    return messages


def request(body: Mapping[str, Any], inline: bool) -> list[Message]:
    given = body.get("input")
    if isinstance(given, str):
        return [{"role": "user", "parts": [p.text(given)]}]
    turns = [_item_part(item, inline) for item in p.items(given)]
    return _merged(turns, frozenset({"assistant", "tool"}))


def system_instructions(body: Mapping[str, Any]) -> list[Part]:
    instructions = body.get("instructions")
    return [p.text(instructions)] if isinstance(instructions, str) and instructions else []


def tool_definitions(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    definitions = []
    for tool in p.items(body.get("tools")):
        kind = p.field(tool, "type")
        if kind == "function":
            definition = {"type": "function", "name": p.field(tool, "name")}
            for key in ("description", "parameters"):
                if p.field(tool, key) is not None:
                    definition[key] = p.field(tool, key)
            definitions.append(definition)
        elif isinstance(kind, str):
            definitions.append({"type": kind, "name": kind})
    return definitions


def _reason(response: Any, found: list[Part]) -> str:
    if any(part["type"] == "tool_call" for part in found):
        return "tool_call"
    status = p.field(response, "status")
    if status == "incomplete":
        return str(p.field(p.field(response, "incomplete_details"), "reason") or "length")
    return _STATUS_REASONS.get(status, "error") if isinstance(status, str) else "error"


def response(value: Any, inline: bool) -> list[Message]:
    found: list[Part] = []
    for item in p.items(p.field(value, "output")):
        found.extend(_item_part(item, inline)[1])
    return [{"role": "assistant", "parts": found, "finish_reason": _reason(value, found)}]
