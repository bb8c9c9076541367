"""Linking the orq router's spans under ours (`link_router_trace`).

The router continues an inbound trace only when it is marked as orq's: `traceparent` plus
a `tracestate` with the member `orq=1` (orq's own SDK sends exactly that). So on orq
hosts we send the LLM span's `traceparent` and its `tracestate` with `orq=1` merged in.
When an HTTP client instrumentation writes those headers itself (its own HTTP span is
then the parent), the trace-context propagator, wrapped, merges `orq=1` in the same way.
Only for orq-host calls with the option on: never `orq=1` toward any other host.
"""

from __future__ import annotations

from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from orq_otel._identity.destination import LLM_CALL_LINKED, destination

_MEMBER = ("orq", "1")
_PROPAGATOR = TraceContextTextMapPropagator()
_installed = False


def with_orq_member(trace_state: TraceState) -> TraceState:
    key, value = _MEMBER
    if key in trace_state:
        return trace_state.update(key, value)
    return trace_state.add(key, value)


def trace_headers(span: Span) -> dict[str, str]:
    """`traceparent` and `tracestate` for the router to continue this span's trace, exactly
    as the W3C trace-context propagator writes them."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers, context=_marked(trace.set_span_in_context(span)))
    return headers


def _marked(context: Context | None) -> Context | None:
    current = trace.get_current_span(context).get_span_context()
    if not current.is_valid:
        return context
    marked = SpanContext(
        current.trace_id,
        current.span_id,
        current.is_remote,
        current.trace_flags,
        with_orq_member(current.trace_state),
    )
    return trace.set_span_in_context(NonRecordingSpan(marked), context)


def _inject(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    # TraceContextTextMapPropagator.inject(carrier, context=None, setter=...)
    if destination.get() != LLM_CALL_LINKED:
        return wrapped(*args, **kwargs)
    context = args[1] if len(args) > 1 else kwargs.get("context")
    if len(args) > 1:
        return wrapped(args[0], _marked(context), *args[2:], **kwargs)
    return wrapped(*args, **{**kwargs, "context": _marked(context)})


def install() -> None:
    """Wrap the W3C trace-context propagator (once; it acts only on linked orq calls)."""
    global _installed  # noqa: PLW0603 - once per process
    if _installed:
        return
    _installed = True
    wrapt.register_post_import_hook(
        lambda module: wrapt.wrap_function_wrapper(
            module, "TraceContextTextMapPropagator.inject", _inject
        ),
        "opentelemetry.trace.propagation.tracecontext",
    )
