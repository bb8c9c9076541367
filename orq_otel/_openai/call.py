"""One instrumented call: its span, its request changes, its metrics.

Every method that runs our own logic catches its failures, logs them once and lets the
call go on: instrumentation must never break the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import Token
from dataclasses import dataclass
from functools import wraps
from timeit import default_timer
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from orq_otel._log import exception_once
from orq_otel._names import COST
from orq_otel._openai.attributes import (
    Usage,
    response_attributes,
    usage_attributes,
    usage_of,
)
from orq_otel._openai.cost import CostCalculator
from orq_otel._openai.metric_attributes import MetricAttributes
from orq_otel._openai.metrics import Instruments
from orq_otel._openai.stream_observers import StreamObserver
from orq_otel._openai.streams import ResultProxies

if TYPE_CHECKING:
    from orq_otel._content.recorder import Recorder

_R = TypeVar("_R")
# One lock for all calls: ending is rare next to the work around it, and a lock per call
# would cost an allocation on every call.
_END_LOCK = threading.Lock()


def guarded(fallback: Callable[..., Any]) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Run our logic; on failure log once and return `fallback(*args)` instead."""

    def decorate(method: Callable[..., _R]) -> Callable[..., _R]:
        @wraps(method)
        def run(*args: Any, **kwargs: Any) -> _R:
            try:
                return method(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the boundary where our failures stop
                exception_once(
                    f"internal:{method.__qualname__}",
                    "orq_otel failed in %s; the call goes on without it",
                    method.__qualname__,
                )
                return fallback(*args, **kwargs)  # type: ignore[no-any-return]

        return run

    return decorate


@dataclass(frozen=True)
class CallServices:
    """What every call shares, made once per `instrument()`."""

    instruments: Instruments
    costs: CostCalculator
    metric_attributes: MetricAttributes
    proxies: ResultProxies


class Call:
    """The telemetry of one call, from request to the end of its response or stream."""

    def __init__(
        self,
        services: CallServices,
        span: Span,
        send_options: Any,
        common: Mapping[str, AttributeValue],
        metric_attributes: Mapping[str, AttributeValue],
        *,
        observer_type: type[StreamObserver],
        hides_usage: bool,
        streamed: bool,
        links_router_trace: bool = False,
        content: Recorder | None = None,
    ) -> None:
        self.services = services
        self.span = span
        self.send_options = send_options  # the request options openai is given
        self.streamed = streamed
        self.links_router_trace = links_router_trace  # see _router_trace
        self._common = common  # provider and request model, for the price
        self._metric_attributes = metric_attributes
        self._observer_type = observer_type
        self._hides_usage = hides_usage
        self._observer: StreamObserver | None = None  # made on the first chunk of a stream
        self.content = content  # None unless this call records prompts and completions
        self._started = default_timer()
        self._ended = False

    def activate(self) -> Token[Context]:
        """Make the span current while the request is sent (HTTP spans become children).

        Returns the token for `opentelemetry.context.detach`.
        """
        return context.attach(trace.set_span_in_context(self.span))

    @guarded(lambda self, result: result)
    def finish(self, result: Any) -> Any:
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
            if self.content is not None:
                self.content.on_chunk(chunk)
            return observer.observe(chunk)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:observe_chunk", "orq_otel failed reading a stream chunk")
            return True

    def fail(self, error: BaseException) -> None:
        """End the span as failed (the caller gets the error unchanged)."""
        if not self._claim_end():
            return
        error_type = type(error).__qualname__
        try:
            self.span.set_status(Status(StatusCode.ERROR, str(error)))
            self.span.record_exception(error)
            self.span.set_attribute(ERROR_TYPE, error_type)
            if self.content is not None:
                self.content.finish(self.span)
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
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once(
                "internal:end", "orq_otel failed reading a response; span ended without it"
            )
        finally:
            if self.content is not None:
                self.content.finish(self.span, response)
            response_model = attributes.get(gen_ai.GEN_AI_RESPONSE_MODEL)
            extra = {gen_ai.GEN_AI_RESPONSE_MODEL: response_model} if response_model else {}
            self._end_with(extra, usage, cost)

    def _outcome(self, response: Any) -> tuple[dict[str, AttributeValue], Usage | None]:
        """Response attributes and usage, from the response or from the stream so far."""
        if response is not None:
            return response_attributes(response), usage_of(getattr(response, "usage", None))
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
            return self._lookup_cost(response_model, usage)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:cost", "orq_otel failed to price a call; no cost recorded")
            return None

    def _lookup_cost(self, response_model: object, usage: Usage) -> float | None:
        attributes = self._common
        models = tuple(
            model
            for model in (response_model, attributes.get(gen_ai.GEN_AI_REQUEST_MODEL))
            if isinstance(model, str)
        )
        provider = attributes.get(gen_ai.GEN_AI_PROVIDER_NAME)
        return self.services.costs.cost(str(provider), models, usage) if models else None

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
            self.span.end()
            seconds = default_timer() - self._started
            extra = self.services.metric_attributes.carried(extra) if extra else extra
            attributes = {**self._metric_attributes, **extra} if extra else self._metric_attributes
            self.services.instruments.record(attributes, seconds, usage, cost)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once(
                "internal:end_with", "orq_otel failed ending a span or recording metrics"
            )
