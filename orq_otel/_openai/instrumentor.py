"""`OrqInstrumentor`: wires the wrappers into openai, and takes them out again."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.metrics import get_meter
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from orq_otel._config import Settings, current_settings, load_settings
from orq_otel._identity.egress import install as install_egress_guard
from orq_otel._openai.metrics import Instruments
from orq_otel._openai.package import _instruments
from orq_otel._openai.patches import PATCHES, live
from orq_otel._openai.prices import prepare_prices
from orq_otel._openai.router_trace import install as install_router_trace_marking
from orq_otel._version import __version__

if TYPE_CHECKING:
    from orq_otel._openai.instrumentation import Instrumentation

_SCHEMA_URL = Schemas.V1_30_0.value
# Keyword arguments that OpenTelemetry passes to every instrumentor, not options of ours.
_PROVIDER_ARGUMENTS = frozenset(
    {"tracer_provider", "meter_provider", "logger_provider", "event_logger_provider"}
)


class OrqInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the openai client: orq identity injection, GenAI spans and metrics.

    ``OrqInstrumentor().instrument(tracer_provider=..., meter_provider=..., **options)``
    with the options listed in the README; each falls back to its ``ORQ_OTEL_*``
    environment variable, read when ``instrument()`` is called.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        options = {k: v for k, v in kwargs.items() if k not in _PROVIDER_ARGUMENTS}
        settings = load_settings(options)  # bad options fail here, not on the first call
        current_settings.set(settings)
        tracer = get_tracer(
            __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
        )
        meter = get_meter(
            __name__, __version__, kwargs.get("meter_provider"), schema_url=_SCHEMA_URL
        )
        instruments = Instruments(meter)
        prepare_prices()  # on a daemon thread: no call waits for genai-prices' data
        logger_provider = kwargs.get("logger_provider")  # for the content event
        live.arm(lambda: _instrumentation(tracer, instruments, settings, logger_provider))
        install_egress_guard()  # identity arriving in baggage must not travel on unchecked
        if settings.link_router_trace:
            install_router_trace_marking()
        for patch in PATCHES:
            target = f"{patch.class_name}.{patch.method}"
            wrap_function_wrapper(patch.module, target, patch.wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        live.disarm()  # wrappers still referenced anywhere now pass straight through
        for patch in PATCHES:
            unwrap(f"{patch.module}.{patch.class_name}", patch.method)
        current_settings.set(None)


def _instrumentation(
    tracer: Tracer, instruments: Instruments, settings: Settings, logger_provider: Any
) -> Instrumentation:
    """What every call shares; built on the first call (see `patches.live`)."""
    # The per-call machinery (identity, baggage, attributes, prices, streams) is imported
    # here rather than at start-up, which auto-instrumentation adds to every process.
    from orq_otel._openai.instrumentation import Instrumentation  # noqa: PLC0415

    return Instrumentation(tracer, instruments, settings, logger_provider)
