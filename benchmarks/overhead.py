"""Per-call overhead of orq_otel, against an uninstrumented run in the same process.

Run on demand (not part of the tests): ``python benchmarks/overhead.py``. The real openai
client sends into an in-process ``httpx2.MockTransport`` (openai 3.x), so only client-side
work is timed. Configurations alternate, round after round; medians are reported.

Scenarios: the identity set in this process (`use_identity`); the identity received in
baggage from another service; the same, signed, with `identity_secret` set (verification
with the decode cache warm).
"""

from __future__ import annotations

import json
import statistics
import time
import timeit
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

import httpx2
import openai
from opentelemetry import context, propagate
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor, set_identity, use_identity

CALLS_PER_ROUND = 2000
ROUNDS = 5
SECRET = "benchmark-secret-0123456789abcdef"  # noqa: S105 - a benchmark fixture
IDENTITY = {"id": "user-1", "display_name": "Ada", "tags": ["pro"], "metadata": {"plan": "pro"}}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


def client() -> openai.OpenAI:
    payload = json.dumps(COMPLETION).encode()
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, content=payload, headers={"content-type": "application/json"}
        )
    )
    return openai.OpenAI(
        base_url="https://api.orq.ai/v3/router",
        api_key="benchmark",
        http_client=httpx2.Client(transport=transport),
    )


@contextmanager
def received_baggage(header: str) -> Iterator[None]:
    token = context.attach(propagate.extract({"baggage": header}))
    try:
        yield
    finally:
        context.detach(token)


def baggage_header() -> str:
    headers: dict[str, str] = {}
    propagate.inject(headers, context=set_identity(IDENTITY, Context()))
    return headers["baggage"]


def main() -> None:
    llm = client()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = OrqInstrumentor()

    def microseconds_per_call() -> float:
        started = time.perf_counter()
        for _ in range(CALLS_PER_ROUND):
            llm.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        return (time.perf_counter() - started) / CALLS_PER_ROUND * 1e6

    def instrumented(**options: object) -> None:
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, **options
        )

    unsigned = baggage_header()
    instrumented(identity_secret=SECRET)
    signed = baggage_header()
    instrumentor.uninstrument()
    scenarios: dict[
        str, tuple[dict[str, object] | None, Callable[[], AbstractContextManager[object]]]
    ] = {
        "uninstrumented": (None, lambda: use_identity(IDENTITY)),
        "identity set in process": ({}, lambda: use_identity(IDENTITY)),
        "identity from baggage": ({}, lambda: received_baggage(unsigned)),
        "identity from signed baggage": (
            {"identity_secret": SECRET},
            lambda: received_baggage(signed),
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(ROUNDS + 1):  # the first round warms up and is not counted
        for name, (options, scope) in scenarios.items():
            if options is not None:
                instrumented(**options)
            with scope():
                timings[name].append(microseconds_per_call())
            if options is not None:
                instrumentor.uninstrument()
                spans = exporter.get_finished_spans()
                assert len(spans) == CALLS_PER_ROUND, f"{name}: {len(spans)} spans"
                assert (spans[-1].attributes or {})["orq.identity.id"] == "user-1"
                exporter.clear()
    base = statistics.median(timings["uninstrumented"][1:])
    print(f"{'scenario':<32} {'us/call':>8} {'overhead us':>12} {'ratio':>6}")
    for name, values in timings.items():
        median = statistics.median(values[1:])
        print(f"{name:<32} {median:>8.0f} {median - base:>12.0f} {median / base:>6.3f}")
    print(f"(medians of {ROUNDS} rounds of {CALLS_PER_ROUND} calls; one span per call checked)")
    lookup_costs(unsigned, signed)


def lookup_costs(unsigned: str, signed: str) -> None:
    """The identity lookup alone, which the call timings above are too noisy to isolate."""
    from orq_otel._config import current_settings, load_settings
    from orq_otel._identity.context import identity_in_effect

    def per_lookup(options: Mapping[str, object], scope: AbstractContextManager[object]) -> float:
        settings = load_settings(options)
        current_settings.set(settings)
        with scope:
            assert identity_in_effect(None, settings)[0] is not None
            lookup = lambda: identity_in_effect(None, settings)  # noqa: E731
            runs = timeit.repeat(lookup, number=20_000, repeat=5)
            return min(runs) / 20_000 * 1e6

    print("\nidentity lookup per call (min of 5 x 20,000):")
    print(f"  set in process          {per_lookup({}, use_identity(IDENTITY)):.2f} us")
    print(f"  from baggage            {per_lookup({}, received_baggage(unsigned)):.2f} us")
    secret = {"identity_secret": SECRET}
    print(f"  from signed baggage     {per_lookup(secret, received_baggage(signed)):.2f} us")
    current_settings.set(None)


if __name__ == "__main__":
    main()
