"""Redaction in process, before anything is capped, hooked, serialized or exported.

First the identity's own e-mail and display name become placeholders (the library knows
them, so it can); then the user's `content_redactor` sees every part, tool-call arguments
and tool results included. A redactor that raises or answers something else than content
means the call records no content: failing closed is the only safe way to fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from orq_otel._log import warn_once

EMAIL_PLACEHOLDER = "[identity.email]"
DISPLAY_NAME_PLACEHOLDER = "[identity.display_name]"
# The four lists a call's content is made of (the keys the redactor gets and gives back).
CONTENT_KEYS = ("system_instructions", "input", "output", "tool_definitions")

Content = dict[str, list[Any]]


def _name_pattern(name: str) -> str:
    escaped = re.escape(name)
    # Whole words only, where the name begins or ends with one: "Al" must not eat "Also".
    start = r"\b" if name[0].isalnum() else ""
    end = r"\b" if name[-1].isalnum() else ""
    return f"{start}{escaped}{end}"


@lru_cache(maxsize=1024)
def _replacer(email: str | None, display_name: str | None) -> Callable[[str], str] | None:
    choices: list[tuple[str, str]] = []
    if email:
        choices.append((re.escape(email), EMAIL_PLACEHOLDER))
    if display_name and len(display_name.strip()) >= 2:
        choices.append((_name_pattern(display_name.strip()), DISPLAY_NAME_PLACEHOLDER))
    if not choices:
        return None
    pattern = re.compile("|".join(f"({regex})" for regex, _ in choices), re.IGNORECASE)
    placeholders = [placeholder for _, placeholder in choices]
    needles = [value.strip().lower() for value in (email, display_name) if value]

    def replace(text: str) -> str:
        # A lower-cased search first: most text names nobody, and it is several times
        # cheaper than the case-insensitive pattern.
        lowered = text.lower()
        if not any(needle in lowered for needle in needles):
            return text
        return pattern.sub(lambda match: placeholders[match.lastindex - 1], text)  # type: ignore[operator]

    return replace


def _walk(value: Any, replace: Callable[[str], str] | None) -> Any:
    """A copy of JSON-like `value` with every string passed through `replace`."""
    kind = type(value)  # exact types first: an ABC check per value costs more than the walk
    if kind is str or isinstance(value, str):
        return replace(value) if replace is not None else value
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return {key: _walk(item, replace) for key, item in value.items()}
    if kind is list or isinstance(value, tuple):
        return [_walk(item, replace) for item in value]
    return value


def without_identity(content: Content, identity: Any, enabled: bool) -> Content:
    """A copy of the content in which the identity's e-mail and display name are placeholders."""
    replace = None
    if enabled and identity is not None:
        replace = _replacer(
            getattr(identity, "email", None), getattr(identity, "display_name", None)
        )
    return {key: _walk(content.get(key, []), replace) for key in CONTENT_KEYS}


def _checked(answer: Any) -> Content | None:
    if answer is None:
        return None
    if not isinstance(answer, Mapping) or not all(
        isinstance(answer.get(key, []), list) for key in CONTENT_KEYS
    ):
        warn_once(
            "content:redactor-answer",
            "content_redactor must return the content mapping or None; no content recorded",
        )
        return None
    return {key: list(answer.get(key, [])) for key in CONTENT_KEYS}


def redact(
    content: Content, identity: Any, redactor: Callable[..., Any] | None, by_identity: bool
) -> Content | None:
    """The content as it may be recorded, or None when nothing may be."""
    cleaned = without_identity(content, identity, by_identity)
    if redactor is None:
        return cleaned
    try:
        answer = redactor(cleaned, identity)
    except Exception as error:  # noqa: BLE001 - the user's callable: fail closed
        warn_once(
            "content:redactor-raised",
            "content_redactor raised %s; calls it raises for record no content",
            type(error).__name__,
        )
        return None
    return _checked(answer)
