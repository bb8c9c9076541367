"""`IdentitySpanProcessor`: the identity in effect on every span, not only LLM spans.

So that a user's whole request (HTTP server spans, database spans, outgoing HTTP spans) is
findable by identity in a tracing backend. Only our keys are copied, never the rest of the
baggage, with the same privacy rules as LLM spans: no e-mail unless `record_email`.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context

from orq_otel._config import current_settings
from orq_otel._identity.attributes import IdentityAttributes
from orq_otel._identity.context import get_identity, register_span_tagger
from orq_otel._identity.model import Identity
from orq_otel._names import IDENTITY_ID

try:  # the SDK is an optional extra; the processor is only useful with it
    from opentelemetry.sdk.trace import SpanProcessor
except ImportError:  # pragma: no cover - exercised only without the sdk extra
    SpanProcessor = object  # type: ignore[assignment,misc]


class IdentitySpanProcessor(SpanProcessor):
    """Adds the identity attributes to every span started while an identity is in effect.

    ``tracer_provider.add_span_processor(IdentitySpanProcessor())``, or
    ``orq_otel.setup(identity_on_every_span=True)``. Spans that already carry
    ``orq.identity.id`` (orq-otel's own LLM spans) are left as they are.
    """

    def __init__(self, record_email: bool | None = None) -> None:
        if record_email is None:
            record_email = current_settings.get().record_email
        self._attributes = IdentityAttributes(record_email)
        register_span_tagger(self)

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        identity = get_identity(parent_context)
        if identity is not None:
            self.tag(span, identity)

    def tag(self, span: Any, identity: Identity) -> None:
        """Set the identity attributes on a span that does not carry an identity yet."""
        attributes = getattr(span, "attributes", None)
        if attributes is not None and IDENTITY_ID in attributes:
            return
        span.set_attributes(self._attributes.of(identity))

    def tag_current_span(self, identity: Identity) -> None:
        """Give the span in progress the identity that has just been set inside it.

        The server span of a request starts before the application knows the user; without
        this, the one span that stands for the whole request would be missing its identity.
        """
        span = trace.get_current_span()
        if span.is_recording():
            self.tag(span, identity)

    def on_end(self, span: Any) -> None:
        """Nothing to do: attributes are set when the span starts."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
