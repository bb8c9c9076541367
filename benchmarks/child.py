"""One benchmark configuration in a fresh process: times each scenario, prints JSON.

    python benchmarks/child.py CONFIG [--calls N] [--repeats K]

CONFIG is one of: none, sdk, floor, floor-in-context, orq, openai-v2, genai-openai,
openinference, openllmetry. "floor" times the SDK's work for one call alone; "floor-in-context" does
that same work after each real openai call, where it runs with cold CPU caches.
The real openai client sends into an in-process httpx2.MockTransport (no network), so
only client-side work is timed. Every configuration exports through the same SDK setup
(SimpleSpanProcessor into a counting exporter, an in-memory metric reader), and each
instrumented run is checked to produce one span per call.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

CHUNKS = 20
MODEL = "gpt-4o-mini"
BASE_URL = "https://api.orq.ai/v3/router"
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]
# Content capture off for every peer, so that all do the same (metadata-only) work.
CONTENT_OFF = {
    "OPENINFERENCE_HIDE_INPUTS": "true",
    "OPENINFERENCE_HIDE_OUTPUTS": "true",
    "OPENINFERENCE_HIDE_EMBEDDINGS_TEXT": "true",
    "OPENINFERENCE_HIDE_EMBEDDINGS_VECTORS": "true",
    "TRACELOOP_TRACE_CONTENT": "false",
    "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "false",  # genai-openai: no log events
}
_ids = itertools.count()


# --- the mock OpenAI API -------------------------------------------------------------


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 11, "completion_tokens": CHUNKS - 2, "total_tokens": 29}


def _chat() -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
        ],
        "usage": _usage(),
    }


def _chat_stream(include_usage: bool) -> bytes:
    chunk_id = f"chatcmpl-{next(_ids)}"
    events = []
    for index in range(CHUNKS):
        last = index == CHUNKS - 1
        delta = {} if last else {"content": f" t{index}"}
        chunk: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}],
        }
        events.append(chunk)
    if include_usage:  # as OpenAI: a last chunk with no choices and the usage
        events.append({**events[-1], "choices": [], "usage": _usage()})
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
    return (body + "data: [DONE]\n\n").encode()


def _embeddings(encoding_format: str | None) -> dict[str, Any]:
    vector = [0.1 * index for index in range(8)]
    packed = base64.b64encode(struct.pack("<8f", *vector)).decode()
    embedding = packed if encoding_format == "base64" else vector
    return {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": embedding}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }


def _response() -> dict[str, Any]:
    return {
        "id": f"resp_{next(_ids)}",  # unique: OpenLLMetry keys its state by response id
        "object": "response",
        "created_at": 1_700_000_000,
        "model": MODEL,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hi", "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 8,
        },
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def handler(request: Any) -> Any:
    import httpx2

    body = json.loads(request.content or b"{}")
    path = request.url.path
    if path.endswith("/chat/completions") and body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return httpx2.Response(
            200,
            content=_chat_stream(include_usage),
            headers={"content-type": "text/event-stream"},
        )
    if path.endswith("/chat/completions"):
        return httpx2.Response(200, json=_chat())
    if path.endswith("/embeddings"):
        return httpx2.Response(200, json=_embeddings(body.get("encoding_format")))
    return httpx2.Response(200, json=_response())


# --- configurations ------------------------------------------------------------------


class CountingExporter:
    """A span exporter that only counts: no span is kept, so no GC work grows with time."""

    def __init__(self) -> None:
        self.count = 0
        self.with_identity = 0  # spans carrying orq.identity.id: orq-otel's must all do

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.count += len(spans)
        self.with_identity += sum("orq.identity.id" in (span.attributes or {}) for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def sdk_providers() -> tuple[Any, Any, CountingExporter]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = CountingExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return tracer_provider, meter_provider, exporter


def instrument(config: str, tracer_provider: Any, meter_provider: Any) -> None:
    providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    if config == "orq":
        from orq_otel import OrqInstrumentor

        OrqInstrumentor().instrument(**providers)
    elif config == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(**providers)
    elif config == "genai-openai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as GenAI

        GenAI().instrument(**providers)
    elif config == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

        OpenInference().instrument(tracer_provider=tracer_provider)
    elif config == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

        OpenLLMetry(enable_trace_context_propagation=False).instrument(**providers)


# --- scenarios -----------------------------------------------------------------------


def scenarios(sync: Any, async_: Any) -> dict[str, Callable[[], Any]]:
    def chat() -> Any:
        return sync.chat.completions.create(model=MODEL, messages=MESSAGES)

    def stream() -> Any:
        for _ in sync.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            pass

    def stream_with_usage() -> Any:
        # Every configuration parses the same 21 chunks: the instrumentations' own cost.
        options: Any = {"include_usage": True}
        for _ in sync.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options=options
        ):
            pass

    def embeddings() -> Any:
        return sync.embeddings.create(model="text-embedding-3-small", input="Say hello")

    def responses() -> Any:
        return sync.responses.create(model=MODEL, input="Say hello")

    def async_chat() -> Any:
        return asyncio.run(_async_chats(async_))

    return {
        "chat": chat,
        "chat (async)": async_chat,
        f"stream ({CHUNKS} chunks)": stream,
        "stream (usage asked)": stream_with_usage,
        "embeddings": embeddings,
        "responses": responses,
    }


ASYNC_BATCH = 50


async def _async_chats(client: Any) -> None:
    for _ in range(ASYNC_BATCH):
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)


IDENTITY = {"id": "user-1", "display_name": "Ada", "tags": ["pro"], "metadata": {"plan": "pro"}}


def orq_telemetry_of_one_chat() -> tuple[str, dict[str, Any], list[tuple[Any, float, Any]]]:
    """The span name, span attributes and metric points orq-otel makes for one chat call.

    Captured from a real instrumented call, then uninstrumented: the floor reproduces
    exactly this telemetry, so it moves when ours does.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from orq_otel import OrqInstrumentor, use_identity

    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        with use_identity(IDENTITY):
            scenarios(*clients())["chat"]()
    finally:
        instrumentor.uninstrument()
    (span,) = spans.get_finished_spans()
    points = []
    for resource_metrics in reader.get_metrics_data().resource_metrics:  # type: ignore[union-attr]
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "sum", getattr(point, "value", 0))
                    points.append((metric, value, dict(point.attributes or {})))
    return span.name, dict(span.attributes or {}), points


def floor_work(tracer_provider: Any, meter_provider: Any) -> Callable[[], None]:
    """The SDK's own work for orq-otel's telemetry of one chat call, and nothing else."""
    from opentelemetry.sdk.metrics._internal.point import HistogramDataPoint
    from opentelemetry.trace import SpanKind

    name, span_attributes, points = orq_telemetry_of_one_chat()
    tracer = tracer_provider.get_tracer("floor")
    meter = meter_provider.get_meter("floor")
    instruments: dict[str, Callable[..., None]] = {}
    recorders: list[tuple[Callable[..., None], float, Any]] = []
    for metric, value, attributes in points:
        if metric.name == "orq.client.cost":
            continue  # summed by orq-otel and observed at collection: no SDK work per call
        if metric.name not in instruments:
            point = metric.data.data_points[0]
            instruments[metric.name] = (
                meter.create_histogram(
                    metric.name,
                    unit=metric.unit,
                    explicit_bucket_boundaries_advisory=list(point.explicit_bounds),
                ).record
                if isinstance(point, HistogramDataPoint)
                else meter.create_counter(metric.name, unit=metric.unit).add
            )
        recorders.append((instruments[metric.name], value, attributes))

    def one_call() -> None:
        tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes).end()
        for record, value, attributes in recorders:
            record(value, attributes)

    return one_call


def time_per_call(work: Callable[[], Any], calls: int, repeats: int, per_work: int = 1) -> float:
    """µs per call in the least disturbed of `repeats` runs.

    The minimum, as `timeit` advises: on a shared machine other work only ever adds time,
    and a burst of it lasts long enough to move a median but rarely covers every repeat.
    """
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls // per_work):
            work()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return min(samples)


def clients(base_url: str = BASE_URL) -> tuple[Any, Any]:
    import httpx2
    import openai

    transport = httpx2.MockTransport(handler)
    sync = openai.OpenAI(
        base_url=base_url, api_key="bench", http_client=httpx2.Client(transport=transport)
    )
    async_ = openai.AsyncOpenAI(
        base_url=base_url, api_key="bench", http_client=httpx2.AsyncClient(transport=transport)
    )
    return sync, async_


def with_floor(work: Callable[[], Any], sdk: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        work()
        sdk()

    return both


def run_scenarios(
    config: str, providers: tuple[Any, Any, CountingExporter | None], calls: int, repeats: int
) -> dict[str, Any]:
    tracer_provider, meter_provider, exporter = providers
    result: dict[str, Any] = {"config": config, "scenarios": {}, "spans_per_call": {}}
    extra = floor_work(tracer_provider, meter_provider) if config == "floor-in-context" else None
    for name, work in scenarios(*clients()).items():
        if extra is not None and "async" in name:
            continue
        timed = with_floor(work, extra) if extra is not None else work
        per_work = ASYNC_BATCH if "async" in name else 1
        total = max(calls // per_work, 1) * per_work
        time_per_call(timed, per_work, 1, per_work)  # warm up
        before = exporter.count if exporter else 0
        result["scenarios"][name] = time_per_call(timed, total, repeats, per_work)
        if exporter is not None:
            spans = exporter.count - before
            result["spans_per_call"][name] = round(spans / (total * repeats), 3)
    if config == "orq" and exporter is not None:
        # The identity must be in effect for every call: otherwise its work goes untimed.
        assert exporter.with_identity == exporter.count, "orq-otel spans without the identity"
    return result


def prepare(config: str) -> None:
    """Content capture off for every peer; openai-v2's missing httpx shimmed."""
    os.environ.update(CONTENT_OFF)
    if config == "openai-v2":
        import importlib.util

        import httpx2

        if importlib.util.find_spec("httpx") is None:
            httpx2.alias_httpx()  # openai-v2 2.4b0 imports httpx, which openai 3.x lacks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    prepare(options.config)
    providers: tuple[Any, Any, CountingExporter | None] = (
        (None, None, None) if options.config == "none" else sdk_providers()
    )
    if options.config == "floor":
        work = floor_work(providers[0], providers[1])
        time_per_call(work, options.calls, 1)
        floor = time_per_call(work, options.calls, options.repeats)
        print(json.dumps({"config": "floor", "scenarios": {"floor": floor}, "spans_per_call": {}}))
        return
    instrument(options.config, providers[0], providers[1])
    if options.config == "orq":
        from opentelemetry import context

        from orq_otel import set_identity

        # In effect for every call of this process. (Not `use_identity(...).__enter__()`:
        # the dropped context manager would be collected and detach it at once.)
        context.attach(set_identity(IDENTITY))
    print(json.dumps(run_scenarios(options.config, providers, options.calls, options.repeats)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
