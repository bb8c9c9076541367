"""opentelemetry-util-genai's completion-hook protocol (its fsspec `upload` hook included),
fed with the redacted, capped content as util-genai's dataclasses.

Called before any content attribute is set, as the conventions ask ("record values that
were potentially modified within the hook"); util-genai itself calls it after. util-genai
is imported only when a hook is configured: it is not a dependency of orq-otel.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from orq_otel._log import warn_once

HOOK_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK"


def configured_hook(given: Any, environ: Mapping[str, str]) -> Any:
    """The `completion_hook` option, else the hook util-genai's variable names, else None."""
    if given is not None:
        return given
    if not environ.get(HOOK_VARIABLE):
        return None
    try:
        from opentelemetry.util.genai.completion_hook import (  # noqa: PLC0415
            _NoOpCompletionHook,
            load_completion_hook,
        )
    except ImportError:
        warn_once(
            "content:hook-import",
            "%s is set but opentelemetry-util-genai is not installed",
            HOOK_VARIABLE,
        )
        return None
    hook = load_completion_hook()
    return None if isinstance(hook, _NoOpCompletionHook) else hook


def _blob_bytes(part: Mapping[str, Any]) -> bytes:
    try:
        return base64.b64decode(str(part.get("content") or ""), validate=True)
    except (binascii.Error, ValueError):
        return b""


_PARTS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "text": lambda t, x: t.TextPart(content=x["content"]),
    "reasoning": lambda t, x: t.ReasoningPart(content=x["content"]),
    "tool_call": lambda t, x: t.ToolCallRequestPart(
        arguments=x.get("arguments"), name=x["name"], id=x.get("id")
    ),
    "tool_call_response": lambda t, x: t.ToolCallResponsePart(
        response=x.get("response"), id=x.get("id")
    ),
    "server_tool_call": lambda t, x: t.ServerToolCallPart(
        name=x["name"], server_tool_call=x.get("server_tool_call"), id=x.get("id")
    ),
    "blob": lambda t, x: t.BlobPart(
        mime_type=x.get("mime_type"), modality=x.get("modality", ""), content=_blob_bytes(x)
    ),
    "uri": lambda t, x: t.UriPart(
        mime_type=x.get("mime_type"), modality=x.get("modality", ""), uri=x["uri"]
    ),
    "file": lambda t, x: t.FilePart(
        mime_type=x.get("mime_type"), modality=x.get("modality", ""), file_id=x["file_id"]
    ),
}


def _part(types: Any, part: Mapping[str, Any]) -> Any:
    """util-genai's dataclass for a part (an omitted blob has empty bytes)."""
    make = _PARTS.get(str(part.get("type")))
    return make(types, part) if make is not None else types.GenericPart(type=str(part.get("type")))


def _tool_definition(types: Any, definition: Mapping[str, Any]) -> Any:
    if definition.get("type") == "function":
        return types.FunctionToolDefinition(
            name=str(definition.get("name")),
            description=definition.get("description"),
            parameters=definition.get("parameters"),
        )
    return types.GenericToolDefinition(
        name=str(definition.get("name")), type=str(definition.get("type"))
    )


def _arguments(content: Mapping[str, list[Any]]) -> dict[str, Any]:
    from opentelemetry.util.genai import types  # noqa: PLC0415

    inputs = [
        types.InputMessage(
            role=m["role"], parts=[_part(types, x) for x in m["parts"]], name=m.get("name")
        )
        for m in content.get("input", [])
    ]
    outputs = [
        types.OutputMessage(
            role=m["role"],
            parts=[_part(types, x) for x in m["parts"]],
            finish_reason=m.get("finish_reason"),
        )
        for m in content.get("output", [])
    ]
    definitions = [_tool_definition(types, d) for d in content.get("tool_definitions", [])]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "system_instruction": [_part(types, x) for x in content.get("system_instructions", [])],
        "tool_definitions": definitions or None,
    }


def call_hook(hook: Any, content: Mapping[str, list[Any]], span: Any, log_record: Any) -> None:
    """Hand the content to the hook; its failure costs the call nothing but the hook."""
    try:
        hook.on_completion(**_arguments(content), span=span, log_record=log_record)
    except Exception:  # noqa: BLE001 - the boundary where a hook's failure stops
        warn_once("content:hook", "the completion hook raised; content recorded without it")
