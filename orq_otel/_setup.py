"""`setup()`: tracer and meter providers, an exporter and the instrumentor, in one call.

For applications that do not run under ``opentelemetry-instrument``. Needs the ``sdk``
extra (``pip install 'orq-otel[sdk]'``). Where the telemetry goes:

1. ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set: the standard
   OTLP/HTTP exporter, configured by every standard ``OTEL_EXPORTER_OTLP_*`` variable;
2. else ``ORQ_API_KEY`` set: orq.ai (``https://api.orq.ai/v2/otel``, bearer auth);
3. else the console.

``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``), ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_INTERVAL`` and
``OTEL_SDK_DISABLED`` are honoured. Providers the application installed itself are used,
never replaced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from opentelemetry import metrics, trace

from orq_otel._identity.span_processor import IdentitySpanProcessor
from orq_otel._log import logger
from orq_otel._openai.instrumentor import OrqInstrumentor

ORQ_OTEL_ENDPOINT = "https://api.orq.ai/v2/otel"
DEFAULT_SERVICE_NAME = "orq-otel-app"
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
# An export gives up after this long unless OTEL_EXPORTER_OTLP_*TIMEOUT says otherwise: a
# shutdown flushes spans and then metrics, so both fit in DEFAULT_SHUTDOWN_TIMEOUT.
DEFAULT_EXPORT_TIMEOUT = DEFAULT_SHUTDOWN_TIMEOUT / 2
_lock = threading.Lock()
_active: SetupHandle | None = None


class _ExportFailures:
    """Exports that did not succeed, counted by watching each exporter setup() creates.

    A collector that refuses every connection makes each export fail quickly, well inside
    any shutdown timeout: without this count, shutdown() would report success.
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def watch(self, exporter: Any) -> Any:
        export = exporter.export

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = export(*args, **kwargs)
            except Exception:
                self._add()
                raise
            if getattr(result, "name", "SUCCESS") != "SUCCESS":  # Span/MetricExportResult
                self._add()
            return result

        exporter.export = counted  # on the instance: its class and other methods as they are
        return exporter

    def _add(self) -> None:
        with self._lock:
            self._count += 1

    def take(self) -> int:
        """The failures since the last take()."""
        with self._lock:
            count, self._count = self._count, 0
            return count


@dataclass
class SetupHandle:
    """What `setup()` built. `shutdown()` flushes and stops what setup() created, only."""

    tracer_provider: Any
    meter_provider: Any
    destination: str  # where spans go: "orq.ai", "otlp", "console", "none" or "existing"
    _owned: list[Any] = field(default_factory=list)
    _instrumentor: OrqInstrumentor | None = None
    _failures: _ExportFailures = field(default_factory=_ExportFailures)

    def shutdown(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> bool:
        """Flush and stop what setup() created, taking at most `timeout` seconds.

        The default fits the 30 s grace period of gunicorn and Kubernetes with room for the
        application's own shutdown. False, with one warning, if an exporter was still busy
        at the deadline or an export failed (a collector that cannot be reached or refuses
        connections, say): what it held is lost, the process is not.
        """
        global _active  # noqa: PLW0603 - the one setup per process
        with _lock:
            if self._instrumentor is not None:
                self._instrumentor.uninstrument()
                self._instrumentor = None
            # The SDK's own shutdown waits up to 30 s per provider, retries included.
            done = _within(timeout, [provider.shutdown for provider in self._owned], "shut down")
            self._owned.clear()
            if _active is self:
                _active = None
            return self._all_exported(done, "shut down")

    def force_flush(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> bool:
        """Export what is batched now, taking at most `timeout` seconds; False if cut short
        or if an export failed since the last flush."""
        millis = int(timeout * 1000)
        flushes = [partial(provider.force_flush, millis) for provider in self._owned]
        return self._all_exported(_within(timeout, flushes, "flush"), "flush")

    def _all_exported(self, in_time: bool, what: str) -> bool:
        failed = self._failures.take()
        if in_time and failed:  # a timeout has warned already: one warning either way
            logger.warning(
                "orq_otel: %s export(s) failed before the %s (is the collector reachable?); "
                "what they held is lost",
                failed,
                what,
            )
        return in_time and not failed


def _within(timeout: float, steps: Sequence[Callable[[], Any]], what: str) -> bool:
    """Run the steps one after the other in a daemon thread; wait for them `timeout` seconds."""
    thread = threading.Thread(
        target=lambda: [step() for step in steps], name=f"orq-otel-{what}", daemon=True
    )
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        logger.warning(
            "orq_otel: telemetry did not %s within %s s (is the collector reachable?); "
            "giving up on what is left",
            what,
            timeout,
        )
        return False
    return True


def setup(
    service_name: str | None = None,
    *,
    identity_on_every_span: bool = False,
    environ: Mapping[str, str] | None = None,
    **instrument_options: Any,
) -> SetupHandle:
    """Build SDK providers and an exporter, install them globally, and instrument openai.

    ``instrument_options`` are `OrqInstrumentor.instrument` options (``inject_hosts``,
    ``record_email``...). With ``identity_on_every_span``, every span started while an
    identity is in effect carries it (`IdentitySpanProcessor`), not only LLM spans.
    Calling it again returns the first call's handle.
    """
    global _active  # noqa: PLW0603 - the one setup per process
    with _lock:
        if _active is not None:
            logger.info("orq_otel.setup() already ran; returning its handle")
            return _active
        env = os.environ if environ is None else environ
        handle = _build(service_name, env)
        instrumentor = OrqInstrumentor()
        if handle.destination == "orq.ai" and "ORQ_OTEL_LINK_ROUTER_TRACE" not in env:
            # Spans go to orq.ai: the router's own spans belong under ours, in one trace.
            instrument_options.setdefault("link_router_trace", True)
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(
                tracer_provider=handle.tracer_provider,
                meter_provider=handle.meter_provider,
                **instrument_options,
            )
            handle._instrumentor = instrumentor
        if identity_on_every_span and hasattr(handle.tracer_provider, "add_span_processor"):
            # After instrument(): the processor follows its record_email setting.
            handle.tracer_provider.add_span_processor(IdentitySpanProcessor())
        _active = handle
        return handle


def _build(service_name: str | None, env: Mapping[str, str]) -> SetupHandle:
    try:
        from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415 - the sdk extra
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            "orq_otel.setup() needs the OpenTelemetry SDK: pip install 'orq-otel[sdk]'"
        ) from error
    existing_tracer = trace.get_tracer_provider()
    existing_meter = metrics.get_meter_provider()
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return SetupHandle(existing_tracer, existing_meter, "none")
    owned: list[Any] = []
    failures = _ExportFailures()
    if isinstance(existing_tracer, TracerProvider):
        logger.info("orq_otel.setup(): using the tracer provider the application installed")
        tracer_provider, destination = existing_tracer, "existing"
    else:
        resource = _resource(Resource, service_name, env)
        tracer_provider = TracerProvider(resource=resource)
        destination = _add_span_exporter(tracer_provider, env, failures)
        trace.set_tracer_provider(tracer_provider)
        owned.append(tracer_provider)
    if isinstance(existing_meter, MeterProvider):
        meter_provider = existing_meter
    else:
        meter_provider = _meter_provider(MeterProvider, tracer_provider.resource, env, failures)
        metrics.set_meter_provider(meter_provider)
        owned.append(meter_provider)
    return SetupHandle(tracer_provider, meter_provider, destination, owned, _failures=failures)


def _resource(resource_type: Any, service_name: str | None, env: Mapping[str, str]) -> Any:
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; an explicit
    # service_name argument wins over both.
    name = service_name or env.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    return resource_type.create({"service.name": name})


def _otlp_configured(env: Mapping[str, str], signal: str) -> bool:
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def _choose_destination(env: Mapping[str, str]) -> str:
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen in ("none", "console"):
        return chosen
    if _otlp_configured(env, "TRACES") or chosen == "otlp":
        return "otlp"
    if env.get("ORQ_API_KEY"):
        return "orq.ai"
    return "console"


def _add_span_exporter(
    tracer_provider: Any, env: Mapping[str, str], failures: _ExportFailures
) -> str:
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - the sdk extra
        BatchSpanProcessor,
        ConsoleSpanExporter,
    )

    destination = _choose_destination(env)
    if destination == "none":
        return destination
    if destination == "console":
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        return destination
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    timeout = _export_timeout(env, "TRACES")
    if destination == "otlp":
        exporter = OTLPSpanExporter(timeout=timeout)  # every OTEL_EXPORTER_OTLP_* applies
    else:
        base = env.get("ORQ_OTEL_ENDPOINT", ORQ_OTEL_ENDPOINT).rstrip("/")
        exporter = OTLPSpanExporter(
            endpoint=f"{base}/v1/traces",
            headers={"Authorization": f"Bearer {env['ORQ_API_KEY']}"},
            timeout=timeout,
        )
    tracer_provider.add_span_processor(BatchSpanProcessor(failures.watch(exporter)))
    return destination


def _export_timeout(env: Mapping[str, str], signal: str) -> float | None:
    """Ours unless the application configured one (None: the exporter reads it)."""
    configured = ("OTEL_EXPORTER_OTLP_TIMEOUT", f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT")
    return None if any(name in env for name in configured) else DEFAULT_EXPORT_TIMEOUT


def _meter_provider(
    meter_provider_type: Any, resource: Any, env: Mapping[str, str], failures: _ExportFailures
) -> Any:
    """Metrics go over OTLP when an OTLP endpoint is configured; orq.ai takes traces only."""
    chosen = env.get("OTEL_METRICS_EXPORTER", "").strip().lower()
    if chosen == "none" or not (_otlp_configured(env, "METRICS") or chosen == "otlp"):
        return meter_provider_type(resource=resource)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter,
    )
    from opentelemetry.sdk.metrics.export import (  # noqa: PLC0415
        PeriodicExportingMetricReader,
    )

    exporter = OTLPMetricExporter(timeout=_export_timeout(env, "METRICS"))
    reader = PeriodicExportingMetricReader(failures.watch(exporter))
    return meter_provider_type(resource=resource, metric_readers=[reader])
