"""How the content capture options are read (`orq_otel._config` holds them in `Settings`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONTENT_MODES = ("no_content", "span_only", "event_only", "span_and_event")
CONTENT_BLOBS = ("omit", "inline")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _one_of(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        chosen = str(getattr(value, "name", value)).strip().lower()  # a Mode, or its name
        if chosen not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, not {value!r}")
        return chosen

    return parse


def _boolean(name: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _TRUE | _FALSE:
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return text in _TRUE

    return parse


def _positive(name: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a positive whole number, not {value!r}") from None
        if isinstance(value, bool) or number <= 0:
            raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        return number

    return parse


def _callable(name: str, method: str | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not callable(getattr(value, method, None) if method else value):
            wanted = f"an object with a {method}() method" if method else "a callable"
            raise TypeError(f"{name} must be {wanted}")
        return value

    return check


CONTENT_NORMALISERS: Mapping[str, Callable[[Any], Any]] = {
    "capture_content": _one_of("capture_content", CONTENT_MODES),
    "content_policy": _callable("content_policy"),
    "content_redactor": _callable("content_redactor"),
    "content_consent_required": _boolean("content_consent_required"),
    "content_redact_identity": _boolean("content_redact_identity"),
    "content_max_length": _positive("content_max_length"),
    "content_max_bytes": _positive("content_max_bytes"),
    "content_blobs": _one_of("content_blobs", CONTENT_BLOBS),
    "completion_hook": _callable("completion_hook", "on_completion"),
}
