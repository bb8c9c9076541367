"""Streamed output put back together: text and tool-call argument fragments per choice and
index (Chat Completions, Completions), or the final response object (Responses API).

Made only for calls that record content, and bounded: past `budget` characters (the byte
cap of an attribute, which no longer text could fit in) fragments are counted, not kept.
A stream cut short gives what it had, finished with `error`.
"""

from __future__ import annotations

from typing import Any

from orq_otel._content import parts as p
from orq_otel._content import responses
from orq_otel._content.parts import Message, Part

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class _Choice:
    __slots__ = ("calls", "finish_reason", "reasoning", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, argument fragments]
        self.finish_reason: str | None = None

    def message(self) -> Message:
        found: list[Part] = []
        if self.reasoning:
            found.append(p.reasoning("".join(self.reasoning)))
        if self.text:
            found.append(p.text("".join(self.text)))
        for _, (call_id, name, fragments) in sorted(self.calls.items()):
            found.append(p.tool_call(call_id, name, "".join(fragments)))
        return {
            "role": "assistant",
            "parts": found,
            "finish_reason": p.finish_reason(self.finish_reason),
        }


class Budget:
    """Characters a stream may still buffer; `cut` once anything was left out."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.cut = False

    def take(self, fragment: Any) -> bool:
        if not isinstance(fragment, str) or not fragment:
            return False
        if len(fragment) > self.left:
            self.cut = True
            return False
        self.left -= len(fragment)
        return True


class CompletionAssembler:
    """Chat Completions and Completions chunks, per choice index."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._choices: dict[int, _Choice] = {}

    def on_chunk(self, chunk: Any) -> None:
        for choice in p.items(p.field(chunk, "choices")):
            index = p.field(choice, "index") or 0
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            reason = p.field(choice, "finish_reason")
            if reason:
                state.finish_reason = reason
            delta = p.field(choice, "delta")
            if delta is None:  # Completions: the text is on the choice
                self._keep(state.text, p.field(choice, "text"))
                continue
            self._keep(state.text, p.field(delta, "content"))
            self._keep(state.text, p.field(delta, "refusal"))
            self._keep(state.reasoning, p.field(delta, "reasoning_content"))
            for call in p.items(p.field(delta, "tool_calls")):
                self._on_tool_call(state, call)

    def _keep(self, kept: list[str], fragment: Any) -> None:
        if self.budget.take(fragment):
            kept.append(fragment)

    def _on_tool_call(self, state: _Choice, call: Any) -> None:
        index = p.field(call, "index") or 0
        known = state.calls.get(index)
        function = p.field(call, "function")
        if known is None:
            known = state.calls[index] = [p.field(call, "id"), p.field(function, "name"), []]
        self._keep(known[2], p.field(function, "arguments"))

    def messages(self) -> list[Message]:
        return [state.message() for _, state in sorted(self._choices.items())]


class ResponseAssembler:
    """Responses API events: the final response when it came, else the deltas so far."""

    def __init__(self, budget: Budget, inline: bool) -> None:
        self.budget = budget
        self._inline = inline
        self._final: Any = None
        self._outputs: dict[int, list[Any]] = {}  # output index -> [call or None, fragments]

    def on_chunk(self, event: Any) -> None:
        kind = p.field(event, "type")
        if kind in _FINAL_EVENTS:
            self._final = p.field(event, "response")
        elif kind == "response.output_item.added":
            item = p.field(event, "item")
            call = item if p.field(item, "type") == "function_call" else None
            self._outputs[p.field(event, "output_index") or 0] = [call, []]
        elif kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            output = self._outputs.setdefault(p.field(event, "output_index") or 0, [None, []])
            fragment = p.field(event, "delta")
            if self.budget.take(fragment):
                output[1].append(fragment)

    def messages(self) -> list[Message]:
        if self._final is not None:
            return responses.response(self._final, self._inline)
        found: list[Part] = []
        for _, (call, fragments) in sorted(self._outputs.items()):
            if call is not None:
                found.append(
                    p.tool_call(p.field(call, "call_id"), p.field(call, "name"), "".join(fragments))
                )
            elif fragments:
                found.append(p.text("".join(fragments)))
        return [{"role": "assistant", "parts": found, "finish_reason": "error"}] if found else []
