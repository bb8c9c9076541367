"""Capture modes, and the one process setting they come from (the ceiling of every call).

The standard `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is read exactly as
opentelemetry-util-genai 1.3 reads it: stripped, matched case-insensitively against the
mode names; anything else (`true` included) records nothing, with one warning. An app
moving from the official instrumentation keeps its configuration, and a value the official
stack ignores does not start recording prompts here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from orq_otel._log import warn_once

STANDARD_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
EMIT_EVENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"


class Mode(enum.Flag):
    """Where content goes: a ceiling and a call's choice combine with `&` (never more)."""

    NO_CONTENT = 0
    SPAN_ONLY = 1
    EVENT_ONLY = 2
    SPAN_AND_EVENT = 3

    @property
    def on_span(self) -> bool:
        return bool(self & Mode.SPAN_ONLY)

    @property
    def on_event(self) -> bool:
        return bool(self & Mode.EVENT_ONLY)


def mode_named(name: str) -> Mode | None:
    """The mode of a name in any case (`span_only`, `SPAN_ONLY`), or None.

    Upper-cased and looked up by member name, as util-genai does (`Mode[value.upper()]`).
    """
    return Mode.__members__.get(name.strip().upper())


def standard_mode(environ: Mapping[str, str]) -> Mode:
    """The standard variable, as util-genai's `get_content_capturing_mode()` reads it."""
    value = environ.get(STANDARD_VARIABLE, "").strip()
    if not value:
        return Mode.NO_CONTENT
    mode = mode_named(value)
    if mode is None:
        warn_once(
            "content:standard-mode",
            "%s has a value that is not a capture mode (no_content, span_only, event_only, "
            "span_and_event); no content is recorded",
            STANDARD_VARIABLE,
        )
        return Mode.NO_CONTENT
    return mode


def ceiling(capture_content: str | None, environ: Mapping[str, str]) -> Mode:
    """The process ceiling: `capture_content` (or its variable) wins over the standard one.

    `OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT=false` takes the event away, as util-genai does.
    """
    mode = standard_mode(environ) if capture_content is None else mode_named(capture_content)
    mode = Mode.NO_CONTENT if mode is None else mode
    if environ.get(EMIT_EVENT_VARIABLE, "").strip().lower() == "false":
        mode &= Mode.SPAN_ONLY
    return mode
