"""What every call shares, and what one call decides before it is sent: who and what it is
for, what an orq host gets from us, and the span it opens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from orq_otel._config import Settings
from orq_otel._content.recorder import ContentCapture, Recorder
from orq_otel._identity.attributes import IdentityAttributes, thread_attributes
from orq_otel._identity.context import identity_in_effect, identity_set_here
from orq_otel._identity.model import Identity, Thread
from orq_otel._identity.resolver import IdentityResolverCache
from orq_otel._identity.thread import thread_in_effect
from orq_otel._log import exception_once
from orq_otel._names import REJECTION_REASON
from orq_otel._openai.attributes import request_attributes
from orq_otel._openai.call import Call, CallServices, guarded
from orq_otel._openai.cost import CostCalculator
from orq_otel._openai.endpoints import endpoint_of
from orq_otel._openai.hosts import Route, RouteCache
from orq_otel._openai.injection import (
    asks_for_usage,
    body_additions,
    caller_identity,
    caller_thread,
    header_additions,
    names_nobody,
)
from orq_otel._openai.metric_attributes import MetricAttributes
from orq_otel._openai.metrics import Instruments
from orq_otel._openai.request import OutgoingRequest
from orq_otel._openai.router_trace import trace_headers
from orq_otel._openai.streams import ResultProxies


@dataclass(frozen=True)
class Subject:
    """Who and what a call is for; a caller-given one is in the body already."""

    identity: Identity | None
    identity_given: bool
    thread: Thread | None
    thread_given: bool


_NOBODY = Subject(None, False, None, False)


class Telemetry:
    """What `instrument()` sets up once and every call shares."""

    def __init__(
        self,
        tracer: Tracer,
        instruments: Instruments,
        settings: Settings,
        logger_provider: Any = None,
    ) -> None:
        self.tracer = tracer
        self.content = ContentCapture.of(settings, logger_provider)  # None: content is off
        self.instruments = instruments
        self.settings = settings
        self.routes = RouteCache(settings.inject_hosts)
        self.identity_attributes = IdentityAttributes(settings.record_email)
        self.services = CallServices(
            instruments,
            CostCalculator(settings.model_prices),
            MetricAttributes(settings, instruments.overflowed),
            ResultProxies(),
        )
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

    @guarded(lambda self, options, stream: None)
    def request(self, options: Any, stream: bool) -> OutgoingRequest | None:
        """The call a client's `request(...)` is about to make, if it is one we instrument."""
        endpoint = endpoint_of(options)
        if endpoint is None:
            return None
        return OutgoingRequest(endpoint, options, stream)

    # --- who and what the call is for ----------------------------------------------------

    @guarded(lambda self, request: _NOBODY)
    def subject(self, request: OutgoingRequest) -> Subject:
        """The caller's identity and thread from the body, else those in effect."""
        if names_nobody(request):
            identity = self._completed(self._trusted_identity())
            return Subject(identity, False, thread_in_effect(None, self.settings), False)
        identity_given, identity = caller_identity(request)
        if not identity_given:
            identity = self._completed(self._trusted_identity())
        return self._with_thread(request, identity, identity_given)

    async def subject_async(self, request: OutgoingRequest) -> Subject:
        """`subject()` for async clients, whose resolver may be a coroutine function."""
        try:
            identity_given, identity = caller_identity(request)
            if not identity_given:
                identity = self._trusted_identity()
                if identity is not None and self.resolver is not None:
                    identity = await self.resolver.complete_async(identity)
            return self._with_thread(request, identity, identity_given)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            exception_once("internal:subject_async", "orq_otel failed to find the identity")
            return _NOBODY

    def _completed(self, identity: Identity | None) -> Identity | None:
        if identity is None or self.resolver is None:
            return identity
        return self.resolver.complete(identity)

    def _trusted_identity(self) -> Identity | None:
        identity, rejection = identity_in_effect(None, self.settings)
        if rejection is not None:
            self.instruments.rejected.add(1, {REJECTION_REASON: rejection.value})
        return identity

    def _with_thread(
        self, request: OutgoingRequest, identity: Identity | None, identity_given: bool
    ) -> Subject:
        thread_given, thread = caller_thread(request)
        if not thread_given:
            thread = thread_in_effect(None, self.settings)
        return Subject(identity, identity_given, thread, thread_given)

    # --- the call --------------------------------------------------------------------

    @guarded(lambda self, request, client, subject: None)
    def start(self, request: OutgoingRequest, client: object, subject: Subject) -> Call | None:
        """Open the span and prepare the request; None if we cannot (the call goes on)."""
        endpoint = request.endpoint
        route = self.routes.route(client)
        common = self._common_attributes(route, request)
        span_attributes = {**common, **request_attributes(request.body)}
        identity, thread = subject.identity, subject.thread
        identity_id = identity.id if identity is not None else None
        metric_attributes = self.services.metric_attributes.of(common, identity_id)
        if identity is not None:
            span_attributes.update(self.identity_attributes.of(identity))
        if thread is not None:
            span_attributes.update(thread_attributes(thread))
        model = common.get(gen_ai.GEN_AI_REQUEST_MODEL)
        name = f"{endpoint.operation} {model}" if model is not None else endpoint.operation
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        content = self._content(span, request, subject, common) if self.content else None
        send_options, hides_usage, linked = request.options, False, False
        if route.injects:
            hides_usage = (
                endpoint.stream_options
                and request.stream
                and not asks_for_usage(request.body)
                and not request.reads_raw_body
            )
            body = body_additions(
                request,
                None if subject.identity_given else identity,
                None if subject.thread_given else thread,
                ask_for_usage=hides_usage,
            )
            headers = header_additions(request, identity)
            if self.settings.link_router_trace and not request.has_header("traceparent"):
                headers.update(trace_headers(span))
                linked = True
            if body or headers:
                send_options = request.with_additions(body, headers)
        return Call(
            self.services,
            span,
            send_options,
            common,
            metric_attributes,
            observer_type=endpoint.observer,
            hides_usage=hides_usage,
            streamed=request.stream,
            links_router_trace=linked,
            content=content,
        )

    def _content(
        self, span: Any, request: OutgoingRequest, subject: Subject, common: Any
    ) -> Recorder | None:
        """The call's content recorder (consent counts from an identity set here, given in
        the body, or verified with identity_secret: not from plain baggage)."""
        trusted = subject.identity_given or bool(self.settings.identity_secret)
        trusted = trusted or identity_set_here()
        return self.content.recorder(span, request, subject.identity, trusted, common)  # type: ignore[union-attr]

    @staticmethod
    def _common_attributes(route: Route, request: OutgoingRequest) -> dict[str, AttributeValue]:
        """What the span and every metric point share."""
        common: dict[str, AttributeValue] = {
            gen_ai.GEN_AI_OPERATION_NAME: request.endpoint.operation,
            gen_ai.GEN_AI_PROVIDER_NAME: route.provider,
        }
        if route.address is not None:
            common[SERVER_ADDRESS] = route.address
        if route.port is not None:
            common[SERVER_PORT] = route.port
        model = request.body.get("model")
        if isinstance(model, str):
            common[gen_ai.GEN_AI_REQUEST_MODEL] = model
        return common
