"""Where content capture (`orq_otel._content`) joins a call: one recorder factory, or none.

Consent that enables recording counts only from an identity this process can vouch for:
set here, given by the caller in the request body, or read from baggage that had to verify
against `identity_secret`. Plain baggage can be forged, so it can refuse but not consent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from orq_otel._config import Settings
from orq_otel._content.hooks import configured_hook
from orq_otel._content.modes import ceiling
from orq_otel._identity.context import identity_set_here
from orq_otel._openai.call import RecorderFactory
from orq_otel._openai.request import OutgoingRequest
from orq_otel._openai.subject import Subject

if TYPE_CHECKING:
    from orq_otel._content.recorder import Recorder


def content_recorders(settings: Settings, logger_provider: Any) -> tuple[RecorderFactory, ...]:
    """The content recorder factory, or none when no call can record content (the default:
    then the per-call path does not even look)."""
    mode = ceiling(settings.capture_content, os.environ)
    hook = configured_hook(settings.completion_hook, os.environ)
    if not mode and hook is None:
        return ()  # the default: the content modules are not even imported
    # Imported only when content can be recorded: a process that never records pays nothing.
    from orq_otel._content.recorder import ContentCapture  # noqa: PLC0415

    capture = ContentCapture(settings, mode, hook, logger_provider)
    signed = bool(settings.identity_secret)  # then every identity from baggage was verified

    def content(
        request: OutgoingRequest,
        span: Span,
        subject: Subject,
        common: Mapping[str, AttributeValue],
    ) -> Recorder | None:
        trusted = subject.identity_given or signed or identity_set_here()
        return capture.recorder(span, request, subject.identity, trusted, common)

    return (content,)
