"""What `instrument()` sets up once and every call shares, and where each call begins.

`begin` reads the call the client is about to make, finds who and what it is for, opens
its span and works out what an orq host gets from us; the result is one `Call`, or None
for a call we leave alone (another endpoint, instrumentation suppressed, our failure).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, get_current
from opentelemetry.trace import SpanKind, Tracer

from orq_otel._config import Settings
from orq_otel._log import guarded, guarded_async
from orq_otel._openai.attributes import StartAttributes, common_attributes, span_name
from orq_otel._openai.call import Call, CallServices
from orq_otel._openai.content import content_recorders
from orq_otel._openai.cost import CostCalculator
from orq_otel._openai.hosts import RouteCache
from orq_otel._openai.injection import request_changes
from orq_otel._openai.metric_attributes import MetricAttributes
from orq_otel._openai.metrics import Instruments
from orq_otel._openai.request import OutgoingRequest, outgoing_request
from orq_otel._openai.streams import ResultProxies
from orq_otel._openai.subject import Subject, Subjects

NO_CALL: Call | None = None  # what `begin` gives when it fails: the call goes on without us
# The two keys OpenTelemetry's suppress_instrumentation() sets, read as
# is_instrumentation_enabled() reads them, but from the context each call looks up once.
_SUPPRESSED = _SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESSED_PLAIN = "suppress_instrumentation"  # the older spelling, still set


class Instrumentation:
    """The per-call machinery of one `instrument()`, built on the first call."""

    def __init__(
        self,
        tracer: Tracer,
        instruments: Instruments,
        settings: Settings,
        logger_provider: Any = None,
    ) -> None:
        self.tracer = tracer
        self.settings = settings
        self.routes = RouteCache(settings.inject_hosts)
        self.start_attributes = StartAttributes(settings.record_email)
        self.subjects = Subjects(settings, instruments.rejected)
        self.services = CallServices(
            instruments,
            CostCalculator(settings.model_prices),
            MetricAttributes(settings, instruments.overflowed),
            ResultProxies(),
            content_recorders(settings, logger_provider),
        )

    @property
    def awaits_resolver(self) -> bool:
        """Whether async calls must await `begin_async` (an async resolver runs on their loop)."""
        return self.subjects.resolver is not None

    @guarded(NO_CALL)
    def begin(self, client: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        """The call `client.request(*args, **kwargs)` makes, begun; None to leave it alone."""
        current = get_current()
        request = _ours(current, args, kwargs)
        if request is None:
            return None
        return self._open(request, client, self.subjects.of(request, current), current)

    @guarded_async(NO_CALL)
    async def begin_async(
        self, client: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Call | None:
        """`begin` for async clients whose identity resolver may have to be awaited."""
        current = get_current()
        request = _ours(current, args, kwargs)
        if request is None:
            return None
        subject = await self.subjects.of_async(request, current)
        return self._open(request, client, subject, current)

    def _open(
        self, request: OutgoingRequest, client: object, subject: Subject, current: Context
    ) -> Call:
        """Start the span and decide the request changes."""
        route = self.routes.route(client)
        common = common_attributes(request.endpoint.operation, route, request.body)
        attributes = self.start_attributes.of(
            common, request.body, subject.identity, subject.thread
        )
        span = self.tracer.start_span(
            span_name(common), context=current, kind=SpanKind.CLIENT, attributes=attributes
        )
        try:
            linked_span = span if self.settings.link_router_trace else None
            changes = request_changes(request, route, subject, linked_span)
            identity_id = subject.identity.id if subject.identity is not None else None
            metric_points = self.services.metric_attributes.of(common, identity_id)
            return Call(
                self.services,
                span,
                request,
                changes,
                common=common,
                metric_points=metric_points,
                subject=subject,
            )
        except BaseException:
            span.end()  # never left open: the call goes on without it
            raise


def _ours(
    current: Context, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> OutgoingRequest | None:
    """The request, if it is one we instrument and instrumentation is not suppressed (by an
    exporter, say, whose own calls must not be traced)."""
    if current.get(_SUPPRESSED) or current.get(_SUPPRESSED_PLAIN):
        return None
    return outgoing_request(args, kwargs)
