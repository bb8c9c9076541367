"""One instrumented call, from the moment it is sent to the end of its response or stream.

The wrappers use a call in three steps: `Instrumentation.begin` makes it, `with call:`
sends the request with its span current (a failure ends the span as failed and the
caller's exception goes on unchanged), and `call.deliver(result)` hands the caller its
result (a proxy for streams). Every step that runs our own logic catches its failures,
logs them once and lets the call go on: instrumentation must never break the caller.

Recorders (content capture, say) hear of a call through `CallRecorder`: each is made from
the outgoing request, gets every streamed chunk and the response, and sees the span
before it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import Token
from timeit import default_timer
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from orq_otel._identity.destination import LLM_CALL_LINKED, destination
from orq_otel._log import exception_once, guarded, guarded_pass_through
from orq_otel._names import COST
from orq_otel._openai.attributes import (
    Usage,
    fields_of,
    response_attributes,
    usage_attributes,
    usage_of,
)
from orq_otel._openai.cost import CostCalculator
from orq_otel._openai.injection import RequestChanges
from orq_otel._openai.metric_attributes import CallPoints, MetricAttributes
from orq_otel._openai.metrics import Instruments
from orq_otel._openai.request import OutgoingRequest
from orq_otel._openai.sending import Additions, has_pending, pend, unpend
from orq_otel._openai.stream_observers import StreamObserver
from orq_otel._openai.streams import ResultProxies
from orq_otel._openai.subject import Subject

# One lock for all calls: ending is rare next to the work around it, and a lock per call
# would cost an allocation on every call.
_END_LOCK = threading.Lock()


class CallRecorder(Protocol):
    """What one recorder hears of one call (each method runs inside our error boundary)."""

    def on_chunk(self, chunk: Any) -> None: ...

    def on_response(self, response: Any) -> None: ...

    def on_end(self, span: Span) -> None:
        """The span is about to end: the last moment to add attributes or events."""


# Made from the request (its body is there to read), the span, who the call is for and the
# attributes the span and metrics share: a recorder, or None.
RecorderFactory = Callable[
    [OutgoingRequest, Span, Subject, Mapping[str, AttributeValue]], "CallRecorder | None"
]


class CallServices(NamedTuple):
    """What every call shares, made once per `instrument()`."""

    instruments: Instruments
    costs: CostCalculator
    metric_attributes: MetricAttributes
    proxies: ResultProxies
    recorders: tuple[RecorderFactory, ...] = ()


class Call:
    """The telemetry of one call, from request to the end of its response or stream."""

    def __init__(
        self,
        services: CallServices,
        span: Span,
        request: OutgoingRequest,
        changes: RequestChanges,
        *,
        common: Mapping[str, AttributeValue],
        metric_points: CallPoints,
        subject: Subject,
    ) -> None:
        self.services = services
        self.span = span
        self._additions = changes.additions
        self.streamed = request.stream
        self._links_router_trace = changes.links_router_trace
        self._hides_usage = changes.hides_usage
        self._observer_type = request.endpoint.observer or StreamObserver
        self._provider = str(common.get(gen_ai.GEN_AI_PROVIDER_NAME))  # for the price
        self._request_model = common.get(gen_ai.GEN_AI_REQUEST_MODEL)
        self._metric_points = metric_points
        recorders = services.recorders
        self._recorders = (
            tuple(_made(recorders, request, span, subject, common)) if recorders else ()
        )
        self._observer: StreamObserver | None = None  # made on the first chunk of a stream
        self._started = default_timer()
        self._ended = False
        self._token: Token[Context] | None = None
        self._destination: Token[str | None] | None = None
        self._pending: Token[Additions | None] | None = None

    # --- sending: `with call:` -----------------------------------------------------------

    def __enter__(self) -> Call:
        """Make the span current while the request is sent (HTTP spans become children)."""
        self._token = context.attach(trace.set_span_in_context(self.span))
        if self._additions is not None or has_pending():  # ours, and no other call's
            self._pending = pend(self._additions)
        if self._links_router_trace:  # router_trace.py marks this call's traceparent
            self._destination = destination.set(LLM_CALL_LINKED)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Undo `__enter__`; a failed request ends the span as failed and goes on unchanged."""
        if self._pending is not None:
            unpend(self._pending)
        if self._destination is not None:
            destination.reset(self._destination)
        if self._token is not None:
            context.detach(self._token)
        if error is not None:
            self.fail(error)

    # --- the result ------------------------------------------------------------------------

    @guarded_pass_through
    def deliver(self, result: Any) -> Any:
        """Take the call's result; return what the caller gets (a proxy for streams)."""
        proxies = self.services.proxies
        proxy = proxies.proxy_for(result, self, self.streamed)
        if proxy is not None:
            return proxy
        if proxies.is_eager_raw_response(result):
            try:
                parsed = result.parse()  # cached by openai: the caller's parse() gets this object
            except Exception:  # noqa: BLE001 - the caller's own parse() will raise it to them
                self.end()
                return result
            self.end(parsed)
            return result
        self.end(result)
        return result

    def observe_chunk(self, chunk: Any) -> bool:
        """Note a streamed chunk; False if it must be hidden from the caller."""
        observer = self._observer
        try:
            if observer is None:
                observer = self._observer = self._observer_type(self._hides_usage)
                observer.first_chunk_at = default_timer()
            for recorder in self._recorders:
                recorder.on_chunk(chunk)
            return observer.admit(chunk)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:observe_chunk", "orq_otel failed reading a stream chunk")
            return True

    # --- the end ---------------------------------------------------------------------------

    @guarded(None)
    def fail(self, error: BaseException) -> None:
        """End the span as failed (the caller gets the error unchanged)."""
        if not self._claim_end():
            return
        error_type = type(error).__qualname__
        try:
            self.span.set_status(Status(StatusCode.ERROR, str(error)))
            self.span.record_exception(error)
            self.span.set_attribute(ERROR_TYPE, error_type)
        finally:
            self._end_with({ERROR_TYPE: error_type}, None, None)

    def end(self, response: Any = None) -> None:
        """End the span once, with what the response (or the stream so far) told us.

        The span ends even if reading the outcome fails: a span never left open.
        """
        if not self._claim_end():
            return
        attributes: dict[str, AttributeValue] = {}
        usage: Usage | None = None
        cost: float | None = None
        try:
            attributes, usage = self._outcome(response)
            if usage is not None:
                attributes.update(usage_attributes(usage))
                cost = self._cost(attributes.get(gen_ai.GEN_AI_RESPONSE_MODEL), usage)
                if cost is not None:
                    attributes[COST] = cost
            self.span.set_attributes(attributes)
            for recorder in self._recorders:
                recorder.on_response(response)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once(
                "internal:end", "orq_otel failed reading a response; span ended without it"
            )
        finally:
            response_model = attributes.get(gen_ai.GEN_AI_RESPONSE_MODEL)
            extra = {gen_ai.GEN_AI_RESPONSE_MODEL: response_model} if response_model else {}
            self._end_with(extra, usage, cost)

    def _outcome(self, response: Any) -> tuple[dict[str, AttributeValue], Usage | None]:
        """Response attributes and usage, from the response or from the stream so far."""
        if response is not None:
            return response_attributes(response), usage_of(fields_of(response).get("usage"))
        observer = self._observer
        if observer is None:  # a stream closed or dropped before its first chunk
            return {}, None
        attributes = observer.attributes()
        first_chunk = observer.first_chunk_at or self._started
        attributes[gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = first_chunk - self._started
        return attributes, observer.usage

    def _cost(self, response_model: object, usage: Usage) -> float | None:
        """The call's cost, or None: a failing price lookup costs the span nothing else."""
        try:
            models = tuple(
                model for model in (response_model, self._request_model) if isinstance(model, str)
            )
            return self.services.costs.cost(self._provider, models, usage) if models else None
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:cost", "orq_otel failed to price a call; no cost recorded")
            return None

    def _claim_end(self) -> bool:
        """True for the one caller that gets to end the span (streams end from any thread)."""
        with _END_LOCK:
            if self._ended:
                return False
            self._ended = True
            return True

    def _end_with(
        self, extra: Mapping[str, AttributeValue], usage: Usage | None, cost: float | None
    ) -> None:
        try:
            for recorder in self._recorders:
                recorder.on_end(self.span)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:recorder", "orq_otel failed recording a call")
        try:
            self.span.end()
            seconds = default_timer() - self._started
            carried = self.services.metric_attributes.carried(extra) if extra else extra
            points = self._metric_points.at_end(tuple(carried.items()))
            self.services.instruments.record(points, seconds, usage, cost)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once(
                "internal:end_with", "orq_otel failed ending a span or recording metrics"
            )
        self.services.costs.prices_wanted()  # last: a cold process answers before it loads


def _made(
    factories: tuple[RecorderFactory, ...],
    request: OutgoingRequest,
    span: Span,
    subject: Subject,
    common: Mapping[str, AttributeValue],
) -> Iterator[CallRecorder]:
    for factory in factories:
        recorder = factory(request, span, subject, common)
        if recorder is not None:
            yield recorder
