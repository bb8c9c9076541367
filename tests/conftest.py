from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
import openai._base_client
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor
from orq_otel._config import current_settings
from orq_otel._log import reset_once_logs
from orq_otel.testing import LocalOpenAIServer

ORQ_BASE_URL = "http://api.orq.ai/v3/router"
# The HTTP library the installed openai sends with: httpx2 (openai 3.x) or httpx (1.x).
OPENAI_HTTP: Any = importlib.import_module(
    "httpx2" if hasattr(openai._base_client, "httpx2") else "httpx"
)
# The local server counts words as tokens: what it reports for the calls below.
PROMPT = "Say hello to the user"
PROMPT_TOKENS = 5  # the words of PROMPT
REPLY_TOKENS = 8  # the words of the local server's fixed reply
CACHED_TOKENS = 3
REASONING_TOKENS = 2
MESSAGES: Any = [{"role": "user", "content": PROMPT}]


@dataclass(frozen=True)
class EndpointCase:
    """One instrumented endpoint, as the tests call it (with a sync or an async client)."""

    name: str
    call: Callable[..., Any]
    operation: str  # gen_ai.operation.name
    model: str
    streams: bool

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.model}"


ENDPOINTS = {
    endpoint.name: endpoint
    for endpoint in (
        EndpointCase(
            "chat",
            lambda client, **kw: client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, **kw
            ),
            "chat",
            "gpt-4o-mini",
            streams=True,
        ),
        EndpointCase(
            "chat_parse",
            lambda client, **kw: client.chat.completions.parse(
                model="gpt-4o-mini", messages=MESSAGES, **kw
            ),
            "chat",
            "gpt-4o-mini",
            streams=False,
        ),
        EndpointCase(
            "completions",
            lambda client, **kw: client.completions.create(
                model="gpt-3.5-turbo-instruct", prompt=PROMPT, **kw
            ),
            "text_completion",
            "gpt-3.5-turbo-instruct",
            streams=True,
        ),
        EndpointCase(
            "embeddings",
            lambda client, **kw: client.embeddings.create(
                model="text-embedding-3-small", input=PROMPT, **kw
            ),
            "embeddings",
            "text-embedding-3-small",
            streams=False,
        ),
        EndpointCase(
            "responses",
            lambda client, **kw: client.responses.create(model="gpt-4o-mini", input=PROMPT, **kw),
            "chat",
            "gpt-4o-mini",
            streams=True,
        ),
    )
}
# Views of the one table above.
CALLS = {name: endpoint.call for name, endpoint in ENDPOINTS.items()}
STREAMING_CALLS = tuple(name for name, endpoint in ENDPOINTS.items() if endpoint.streams)
# (endpoint, stream): every endpoint once, and every streaming endpoint streamed.
CALL_CASES = [(name, False) for name in CALLS] + [(name, True) for name in STREAMING_CALLS]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration starts real external components."""
    for item in items:
        if item.path.parent.name == "integration":
            item.add_marker(pytest.mark.integration)


def forget_what_was_seen() -> None:
    """Every "warned once" and every cache in orq_otel, as in a fresh process.

    Some warnings are logged inside `functools.lru_cache`d functions (baggage decoding, for
    one): a test that decoded the same entries earlier would hide them from a later one.
    """
    reset_once_logs()
    for name, module in list(sys.modules.items()):
        if not (name == "orq_otel" or name.startswith("orq_otel.")):
            continue
        for value in list(vars(module).values()):
            # Every lru_cache'd function of ours (not the stdlib's that a module imported).
            if callable(getattr(value, "cache_clear", None)) and value.__module__ == name:
                value.cache_clear()
        debug_logged = getattr(module, "_unknown_logged", None)  # cost.py's unknown models
        if isinstance(debug_logged, set):
            debug_logged.clear()


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test sees warnings and caches as if for the first time and the default settings."""
    forget_what_was_seen()
    current_settings.set(None)
    yield
    current_settings.set(None)


@pytest.fixture(scope="session", autouse=True)
def _price_data_loaded() -> None:
    """No call waits for genai-prices' data (it loads in the background): tests that check
    a call's cost wait for it once, here. tests/test_cost.py covers calls made before."""
    from orq_otel._openai.prices import wait_for_prices

    assert wait_for_prices(120)


@pytest.fixture(scope="session")
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer(
        cached_tokens=CACHED_TOKENS, reasoning_tokens=REASONING_TOKENS
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _clear_server_log(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear()


@dataclass
class Telemetry:
    """An instrumented process: in-memory spans and metrics, and the instrumentor."""

    spans_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    instrumentor: OrqInstrumentor
    options: dict[str, Any]

    def instrument(self, **options: Any) -> None:
        if self.instrumentor.is_instrumented_by_opentelemetry:
            self.instrumentor.uninstrument()
        self.options = options
        self.instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.metric_reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [
                            p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)
                        ]
        return found

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Run a block uninstrumented, as a user without orq_otel would."""
        self.instrumentor.uninstrument()
        try:
            yield
        finally:
            self.instrument(**self.options)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = OrqInstrumentor()
    state = Telemetry(exporter, reader, tracer_provider, meter_provider, instrumentor, {})
    state.instrument()
    yield state
    instrumentor.uninstrument()


@pytest.fixture
def plain_client(server: LocalOpenAIServer) -> Iterator[openai.OpenAI]:
    """A client for a host that is not orq's (the local server's own address)."""
    with server.client() as client:
        yield client


@pytest.fixture
def orq_client(server: LocalOpenAIServer) -> Iterator[openai.OpenAI]:
    """A client whose base URL is orq.ai's router, reaching the local server as a proxy."""
    with server.client(ORQ_BASE_URL) as client:
        yield client


@pytest.fixture
async def async_plain_client(server: LocalOpenAIServer) -> Any:
    async with server.async_client() as client:
        yield client


@pytest.fixture
async def async_orq_client(server: LocalOpenAIServer) -> Any:
    async with server.async_client(ORQ_BASE_URL) as client:
        yield client
