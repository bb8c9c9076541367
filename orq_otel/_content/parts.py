"""Message parts in the GenAI semantic conventions' JSON shape, built from request and
response values that may be JSON (dicts) or openai's pydantic models."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Part = dict[str, Any]
Message = dict[str, Any]

# The conventions' finish reasons where OpenAI spells them otherwise.
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}


def field(value: Any, name: str) -> Any:
    """`value[name]` of a mapping or `value.name` of an object; None when absent."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def items(value: Any) -> list[Any]:
    """A list field as a list (absent or not a list: empty)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def content_parts(
    part_of: Callable[[Any, bool], Part | None], content: Any, inline: bool
) -> list[Part]:
    """A message's content as parts: a string is one text part, a list is read item by item
    with the API's own `part_of` (items it cannot read are left out)."""
    if isinstance(content, str):
        return [text(content)]
    found = (part_of(item, inline) for item in items(content))
    return [part for part in found if part is not None]


def finish_reason(reason: Any) -> str:
    """The conventions' name; a choice with none (a cut stream) finished with an error."""
    if not isinstance(reason, str) or not reason:
        return "error"
    return _FINISH_REASONS.get(reason, reason)


def text(content: str) -> Part:
    return {"type": "text", "content": content}


def reasoning(content: str) -> Part:
    return {"type": "reasoning", "content": content}


def arguments_of(arguments: Any) -> Any:
    """Tool-call arguments: parsed when they are JSON text, else as given."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def tool_call(call_id: Any, name: Any, arguments: Any) -> Part:
    return {
        "type": "tool_call",
        "id": call_id,
        "name": name if isinstance(name, str) else "",
        "arguments": arguments_of(arguments),
    }


def tool_call_response(call_id: Any, response: Any) -> Part:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def _base64_size(payload: str) -> int:
    """Decoded size of base64 text, without decoding it."""
    stripped = payload.strip()
    return max(len(stripped) * 3 // 4 - stripped[-2:].count("="), 0)


def blob(modality: str, mime_type: str | None, payload: str, inline: bool) -> Part:
    """An inline base64 blob: its bytes only with `inline`, its type and size always."""
    part: Part = {"type": "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    if inline:
        part["content"] = payload
    else:
        part.update(content="", size=_base64_size(payload), omitted=True)
    return part


def from_url(url: Any, modality: str, inline: bool) -> Part | None:
    """A `data:` URL becomes a blob, any other URL a uri part."""
    if not isinstance(url, str):
        return None
    if not url.startswith("data:"):
        return {"type": "uri", "modality": modality, "uri": url}
    header, _, payload = url[5:].partition(",")
    mime_type = header.split(";", 1)[0] or None
    if ";base64" not in header.lower():
        return {"type": "blob", "modality": modality, "mime_type": mime_type, "content": payload}
    return blob(modality, mime_type, payload, inline)


def file_part(file: Any, inline: bool) -> Part | None:
    """A file given by id, by URL or inline (`file_data`)."""
    file_id = field(file, "file_id")
    if isinstance(file_id, str):
        return {"type": "file", "modality": "document", "file_id": file_id}
    data = field(file, "file_data")
    if isinstance(data, str):
        if data.startswith("data:"):
            return from_url(data, "document", inline)
        return blob("document", None, data, inline)
    return from_url(field(file, "file_url"), "document", inline)


def generic(kind: Any) -> Part:
    """A part of a type the conventions do not name: its type only (never its payload)."""
    return {"type": str(kind)}
