"""Quick per-call overhead of orq_otel, against an uninstrumented run in the same process.

Run on demand (not part of the tests): ``python benchmarks/overhead.py``. The real openai
client sends into an in-process ``httpx2.MockTransport`` (openai 3.x), so only client-side
work is timed; instrumented and uninstrumented rounds alternate. The fuller harness with
the SDK floor and the peers is issue 6's work.
"""

from __future__ import annotations

import json
import statistics
import time

import httpx2
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor, use_identity

CALLS_PER_ROUND = 2000
ROUNDS = 5
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


def main() -> None:
    payload = json.dumps(COMPLETION).encode()
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, content=payload, headers={"content-type": "application/json"}
        )
    )
    client = openai.OpenAI(
        base_url="https://api.orq.ai/v3/router",
        api_key="benchmark",
        http_client=httpx2.Client(transport=transport),
    )
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = OrqInstrumentor()

    def microseconds_per_call() -> float:
        started = time.perf_counter()
        for _ in range(CALLS_PER_ROUND):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        return (time.perf_counter() - started) / CALLS_PER_ROUND * 1e6

    without, with_us = [], []
    identity = {"id": "user-1", "display_name": "Ada", "tags": ["pro"], "metadata": {"plan": "pro"}}
    with use_identity(**identity):
        microseconds_per_call()  # warm up
        for _ in range(ROUNDS):
            without.append(microseconds_per_call())
            instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            with_us.append(microseconds_per_call())
            instrumentor.uninstrument()
            spans = len(exporter.get_finished_spans())
            assert spans == CALLS_PER_ROUND, f"expected one span per call, got {spans}"
            exporter.clear()
    base, ours = statistics.median(without), statistics.median(with_us)
    print(
        f"uninstrumented {base:.0f} us/call, instrumented {ours:.0f} us/call, "
        f"overhead {ours - base:.0f} us, ratio {ours / base:.3f} (medians of {ROUNDS} rounds)"
    )


if __name__ == "__main__":
    main()
