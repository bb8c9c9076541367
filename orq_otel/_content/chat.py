"""Chat Completions and (legacy) Completions, request and response, as semantic-convention
messages. System and developer messages stay in the input with their role, as the
conventions ask for instructions that are part of the chat history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orq_otel._content import parts as p
from orq_otel._content.parts import Message, Part


def _content_part(item: Any, inline: bool) -> Part | None:
    kind = p.field(item, "type")
    if kind == "text":
        return p.text(str(p.field(item, "text") or ""))
    if kind == "refusal":
        return p.text(str(p.field(item, "refusal") or ""))
    if kind == "image_url":
        return p.from_url(p.field(p.field(item, "image_url"), "url"), "image", inline)
    if kind == "input_audio":
        audio = p.field(item, "input_audio")
        data, audio_format = p.field(audio, "data"), p.field(audio, "format")
        mime_type = f"audio/{audio_format}" if isinstance(audio_format, str) else None
        return p.blob("audio", mime_type, data, inline) if isinstance(data, str) else None
    if kind == "file":
        return p.file_part(p.field(item, "file"), inline)
    return p.generic(kind)


def _tool_calls(message: Any) -> list[Part]:
    calls = []
    for call in p.items(p.field(message, "tool_calls")):
        function = p.field(call, "function")
        calls.append(
            p.tool_call(
                p.field(call, "id"), p.field(function, "name"), p.field(function, "arguments")
            )
        )
    return calls


def _tool_result(message: Any) -> Any:
    content = p.field(message, "content")
    if isinstance(content, str):
        return content
    texts = [p.field(item, "text") for item in p.items(content)]
    return "".join(text for text in texts if isinstance(text, str))


def input_message(message: Any, inline: bool) -> Message | None:
    role = p.field(message, "role")
    if not isinstance(role, str):
        return None
    if role == "tool":
        response = p.tool_call_response(p.field(message, "tool_call_id"), _tool_result(message))
        return {"role": "tool", "parts": [response]}
    parts = p.content_parts(_content_part, p.field(message, "content"), inline)
    if role == "assistant":
        parts += _tool_calls(message)
    found: Message = {"role": role, "parts": parts}
    name = p.field(message, "name")
    if isinstance(name, str):
        found["name"] = name
    return found


def tool_definitions(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Function tools with name, description and parameters; other tools by type."""
    definitions = []
    for tool in p.items(body.get("tools")):
        kind = p.field(tool, "type")
        function = p.field(tool, "function")
        if kind == "function" and function is not None:
            definition = {"type": "function", "name": p.field(function, "name")}
            for key in ("description", "parameters"):
                if p.field(function, key) is not None:
                    definition[key] = p.field(function, key)
            definitions.append(definition)
        elif isinstance(kind, str):
            definitions.append({"type": kind, "name": kind})
    return definitions


def chat_request(body: Mapping[str, Any], inline: bool) -> list[Message]:
    found = (input_message(message, inline) for message in p.items(body.get("messages")))
    return [message for message in found if message is not None]


def completion_request(body: Mapping[str, Any]) -> list[Message]:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else p.items(prompt)
    texts = [p.text(item) for item in prompts if isinstance(item, str)]
    return [{"role": "user", "parts": texts}] if texts else []


def output_message(message: Any, reason: Any) -> Message:
    parts = []
    reasoning = p.field(message, "reasoning_content")  # DeepSeek-style servers
    if isinstance(reasoning, str) and reasoning:
        parts.append(p.reasoning(reasoning))
    for key in ("content", "refusal"):
        value = p.field(message, key)
        if isinstance(value, str) and value:
            parts.append(p.text(value))
    parts += _tool_calls(message)
    return {"role": "assistant", "parts": parts, "finish_reason": p.finish_reason(reason)}


def chat_response(response: Any) -> list[Message]:
    choices = sorted(p.items(p.field(response, "choices")), key=lambda c: p.field(c, "index") or 0)
    return [output_message(p.field(c, "message"), p.field(c, "finish_reason")) for c in choices]


def completion_response(response: Any) -> list[Message]:
    choices = sorted(p.items(p.field(response, "choices")), key=lambda c: p.field(c, "index") or 0)
    return [
        {
            "role": "assistant",
            "parts": [p.text(str(p.field(choice, "text") or ""))],
            "finish_reason": p.finish_reason(p.field(choice, "finish_reason")),
        }
        for choice in choices
    ]
