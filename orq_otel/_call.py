"""One instrumented call: its span, its request changes, its metrics.

Every method that runs our own logic catches its failures, logs them once and lets the
call go on: instrumentation must never break the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import Token
from functools import wraps
from timeit import default_timer
from typing import Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from orq_otel._attributes import (
    IDENTITY_ID,
    IdentityAttributes,
    Usage,
    request_attributes,
    response_attributes,
    usage_attributes,
    usage_of,
)
from orq_otel._config import Settings
from orq_otel._context import identity_in_effect
from orq_otel._cost import CostCalculator
from orq_otel._endpoints import endpoint_of
from orq_otel._hosts import RouteCache
from orq_otel._identity import Identity
from orq_otel._injection import asks_for_usage, body_additions, caller_identity
from orq_otel._log import exception_once
from orq_otel._metrics import REJECTION_REASON, Instruments
from orq_otel._openai_types import OpenAITypes
from orq_otel._request import OutgoingRequest
from orq_otel._resolver import IdentityResolverCache
from orq_otel._stream_observers import StreamObserver

_R = TypeVar("_R")
# One lock for all calls: ending is rare next to the work around it, and a lock per call
# would cost an allocation on every call.
_END_LOCK = threading.Lock()
COST = "orq.cost.usd"


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


class Telemetry:
    """What `instrument()` sets up once and every call shares."""

    def __init__(
        self, tracer: Tracer, instruments: Instruments, settings: Settings, types: OpenAITypes
    ) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.settings = settings
        self.types = types
        self.routes = RouteCache(settings.inject_hosts)
        self.costs = CostCalculator(settings.model_prices)
        self.identity_attributes = IdentityAttributes(settings.record_email)
        self.resolver = (
            IdentityResolverCache(
                settings.identity_resolver,
                settings.identity_resolver_ttl,
                settings.identity_resolver_cache_size,
                settings.identity_resolver_timeout,
            )
            if settings.identity_resolver is not None
            else None
        )

    @guarded(lambda self: None)
    def identity(self) -> Identity | None:
        """The identity for a call: trusted, and completed by the resolver if there is one."""
        identity = self._trusted_identity()
        if identity is None or self.resolver is None:
            return identity
        return self.resolver.complete(identity)

    async def identity_async(self) -> Identity | None:
        """`identity()` for async clients, whose resolver may be a coroutine function."""
        try:
            identity = self._trusted_identity()
            if identity is None or self.resolver is None:
                return identity
            return await self.resolver.complete_async(identity)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:identity_async", "orq_otel failed to find the identity")
            return None

    def _trusted_identity(self) -> Identity | None:
        identity, rejection = identity_in_effect()
        if rejection is not None:
            self.instruments.rejected.add(1, {REJECTION_REASON: rejection.value})
        return identity

    @guarded(lambda self, options, stream: None)
    def request(self, options: Any, stream: bool) -> OutgoingRequest | None:
        """The call a client's `request(...)` is about to make, if it is one we instrument."""
        endpoint = endpoint_of(options)
        if endpoint is None:
            return None
        return OutgoingRequest(endpoint, options, stream)

    @guarded(lambda self, request: (False, None))
    def caller_identity(self, request: OutgoingRequest) -> tuple[bool, Identity | None]:
        """Whether the caller's body names the identity itself (it wins), and it if valid."""
        return caller_identity(request)

    @guarded(lambda self, request, client, identity: None)
    def start(
        self, request: OutgoingRequest, client: object, identity: Identity | None
    ) -> Call | None:
        """Open the span and prepare the request; None if we cannot (the call goes on)."""
        endpoint = request.endpoint
        body = request.body
        route = self.routes.route(client)
        send_options = request.options
        hides_usage = False
        if route.injects:
            hides_usage = (
                endpoint.stream_options
                and request.stream
                and not asks_for_usage(body)
                and not request.reads_raw_body
            )
            additions = body_additions(request, identity, ask_for_usage=hides_usage)
            if additions:
                send_options = request.with_additions(additions, {})
        common: dict[str, AttributeValue] = {
            gen_ai.GEN_AI_OPERATION_NAME: endpoint.operation,
            gen_ai.GEN_AI_PROVIDER_NAME: route.provider,
        }
        if route.address is not None:
            common[SERVER_ADDRESS] = route.address
        if route.port is not None:
            common[SERVER_PORT] = route.port
        model = body.get("model")
        if isinstance(model, str):
            common[gen_ai.GEN_AI_REQUEST_MODEL] = model
        span_attributes = {**common, **request_attributes(body)}
        metric_attributes = common
        if identity is not None:
            span_attributes.update(self.identity_attributes.of(identity))
            if self.settings.metric_identity:
                metric_attributes = {**common, IDENTITY_ID: identity.id}
        name = f"{endpoint.operation} {model}" if isinstance(model, str) else endpoint.operation
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        return Call(
            self,
            span,
            send_options,
            metric_attributes,
            observer_type=endpoint.observer,
            hides_usage=hides_usage,
            streamed=request.stream,
        )


class Call:
    """The telemetry of one call, from request to the end of its response or stream."""

    def __init__(
        self,
        telemetry: Telemetry,
        span: Span,
        send_options: Any,
        metric_attributes: Mapping[str, AttributeValue],
        *,
        observer_type: type[StreamObserver],
        hides_usage: bool,
        streamed: bool,
    ) -> None:
        self.telemetry = telemetry
        self.span = span
        self.send_options = send_options  # the request options openai is given
        self.streamed = streamed
        self._metric_attributes = metric_attributes
        self._observer_type = observer_type
        self._hides_usage = hides_usage
        self._observer: StreamObserver | None = None  # made on the first chunk of a stream
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
        types = self.telemetry.types
        proxy = types.proxy_for(result, self)
        if proxy is not None:
            return proxy
        if types.is_eager_raw_response(result):
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
        attributes = self._metric_attributes
        models = tuple(
            model
            for model in (response_model, attributes.get(gen_ai.GEN_AI_REQUEST_MODEL))
            if isinstance(model, str)
        )
        provider = attributes.get(gen_ai.GEN_AI_PROVIDER_NAME)
        return self.telemetry.costs.cost(str(provider), models, usage) if models else None

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
            attributes = {**self._metric_attributes, **extra} if extra else self._metric_attributes
            self.telemetry.instruments.record(attributes, seconds, usage, cost)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once(
                "internal:end_with", "orq_otel failed ending a span or recording metrics"
            )
