"""What content capture costs per call, against capture off, in the same process.

Run on demand (not part of the tests): ``python benchmarks/content.py``. The real openai
client sends into an in-process ``httpx2.MockTransport`` (openai 3.x), so only client-side
work is timed: building, redacting, capping and serializing the content, and setting the
span attributes (the OTLP export of large attributes happens in the batch thread, and is
not timed here). Configurations alternate, round after round; medians are reported.

Scenarios, as in the peers' figures of the research note: a small chat (one message, a
short reply); a 40 KB conversation with 10 tool definitions; a 1 MB inline image (a data
URL, left out by default). Each is timed uninstrumented, instrumented with capture off
(the default), and with capture on (`span_only`, the identity set in this process).

``python benchmarks/content.py --instructions`` counts instructions instead (callgrind, as
``instructions.py`` does: each configuration in a fresh process, counting only inside
blocks of N and 2N calls per scenario, per call = the difference / N), so that capture off
and on can be compared exactly: deterministic, however loaded the machine is.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor, use_identity

IDENTITY = {"id": "user-1", "display_name": "Ada Lovelace", "email": "ada@example.com"}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A short answer, " * 8},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"tool_{i}",
            "description": f"Tool number {i}, which does something useful with its inputs.",
            "parameters": {
                "type": "object",
                "properties": {f"arg_{j}": {"type": "string"} for j in range(5)},
            },
        },
    }
    for i in range(10)
]


def small_chat() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


def conversation() -> dict[str, Any]:
    """About 40 KB of history (alternating turns of 1 KB) and 10 tool definitions."""
    turn = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18
    roles = ("user", "assistant")
    messages = [{"role": roles[i % 2], "content": f"{i} {turn}"} for i in range(40)]
    return {"messages": messages, "tools": TOOLS}


def image() -> dict[str, Any]:
    payload = base64.b64encode(bytes(range(256)) * 4096).decode()  # 1 MiB of image bytes
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{payload}"}},
    ]
    return {"messages": [{"role": "user", "content": content}]}


SCENARIOS: dict[str, tuple[Callable[[], dict[str, Any]], int]] = {
    "small chat": (small_chat, 400),
    "40 KB + 10 tools": (conversation, 100),
    "1 MB image": (image, 20),
}
CONFIGURATIONS: dict[str, dict[str, Any] | None] = {
    "uninstrumented": None,
    "capture off": {},
    "capture on": {"capture_content": "span_only"},
}


# Calls in the smaller of the two counted blocks, per scenario (the larger has twice as many).
INSTRUCTION_CALLS = {"small chat": 10, "40 KB + 10 tools": 4, "1 MB image": 2}


def client() -> openai.OpenAI:
    payload = json.dumps(COMPLETION).encode()
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, content=payload, headers={"content-type": "application/json"}
        )
    )
    return openai.OpenAI(
        base_url="https://api.openai.com/v1",
        api_key="benchmark",
        http_client=httpx2.Client(transport=transport),
    )


def milliseconds_per_call(
    llm: openai.OpenAI, body: dict[str, Any], calls: int
) -> tuple[float, float]:
    """(wall clock, CPU time of this process) per call: on a shared machine the CPU time is
    the steadier of the two."""
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        llm.chat.completions.create(model="gpt-4o-mini", **body)
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return wall / calls * 1e3, cpu / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--instruction-child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.instruction_child:
        instruction_child(arguments.instruction_child)
        return
    if arguments.instructions:
        instructions()
        return
    rounds = arguments.rounds
    llm = client()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = OrqInstrumentor()
    timings = {(s, c): [] for s in SCENARIOS for c in CONFIGURATIONS}  # type: ignore[var-annotated]
    sizes: dict[str, int] = {}
    with use_identity(IDENTITY):
        for _ in range(rounds + 1):  # the first round warms up and is not counted
            for scenario, (make, calls) in SCENARIOS.items():
                body = make()
                for configuration, options in CONFIGURATIONS.items():
                    if options is not None:
                        instrumentor.instrument(
                            tracer_provider=tracer_provider,
                            meter_provider=meter_provider,
                            **options,
                        )
                    timings[scenario, configuration].append(milliseconds_per_call(llm, body, calls))
                    if options is not None:
                        instrumentor.uninstrument()
                        sizes[f"{scenario}, {configuration}"] = content_bytes(exporter, calls)
                    exporter.clear()
    report(timings, sizes, rounds)


def content_bytes(exporter: InMemorySpanExporter, calls: int) -> int:
    """Bytes of content attributes on the last span (and a check that every call had one)."""
    spans = exporter.get_finished_spans()
    assert len(spans) == calls, len(spans)
    attributes = spans[-1].attributes or {}
    return sum(len(str(v).encode()) for k, v in attributes.items() if k.endswith("messages"))


def report(
    timings: dict[Any, list[tuple[float, float]]], sizes: dict[str, int], rounds: int
) -> None:
    for clock, which in (("wall clock", 0), ("CPU time", 1)):
        print(
            f"{clock:<18} {'uninstr. ms':>11} {'off ms':>8} {'on ms':>8} "
            f"{'off/uninstr.':>12} {'on/off':>7} {'content bytes':>13}"
        )
        for scenario in SCENARIOS:
            bare, off, on = (
                statistics.median(t[which] for t in timings[scenario, c][1:])
                for c in CONFIGURATIONS
            )
            print(
                f"{scenario:<18} {bare:>11.3f} {off:>8.3f} {on:>8.3f} "
                f"{off / bare:>12.3f} {on / off:>7.3f} {sizes[f'{scenario}, capture on']:>13,}"
            )
    print(f"(per call, medians of {rounds} rounds; same process, configurations alternating)")


def _caller(llm: openai.OpenAI, body: dict[str, Any]) -> Callable[[], Any]:
    def work() -> Any:
        return llm.chat.completions.create(model="gpt-4o-mini", **body)

    return work


def instruction_child(configuration: str) -> None:
    """One configuration under callgrind: a block of N and of 2N calls per scenario."""
    from instructions import counted, instrumentation_on, wait_for_prices

    llm = client()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    options = CONFIGURATIONS[configuration]
    if options is not None:
        OrqInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, **options
        )
    bodies = {scenario: make() for scenario, (make, _) in SCENARIOS.items()}
    works = {scenario: _caller(llm, body) for scenario, body in bodies.items()}
    with use_identity(IDENTITY):
        wait_for_prices()
        for work in works.values():
            work()
            work()
        gc.collect()
        gc.freeze()
        instrumentation_on()
        for scenario, work in works.items():
            counted(work, INSTRUCTION_CALLS[scenario])
            counted(work, 2 * INSTRUCTION_CALLS[scenario])


def instructions() -> None:
    """Instructions per call of each scenario: uninstrumented, capture off, capture on."""
    from instructions import callgrind

    out_dir = Path(tempfile.mkdtemp(prefix="orq-otel-content-callgrind-"))
    per_call: dict[str, dict[str, float]] = {}
    for configuration in CONFIGURATIONS:
        argv = [str(Path(__file__).resolve()), "--instruction-child", configuration]
        name = configuration.replace(" ", "-")
        counts = callgrind(sys.executable, argv, out_dir, name)
        per_call[configuration] = {
            scenario: (counts[2 * index + 1] - counts[2 * index]) / INSTRUCTION_CALLS[scenario]
            for index, scenario in enumerate(SCENARIOS)
        }
    print("\nContent capture, instructions per call (callgrind)")
    print("| scenario | uninstrumented | capture off, above uninstrumented | on, above off |")
    print("| --- | ---: | ---: | ---: |")
    for scenario in SCENARIOS:
        bare, off, on = (per_call[c][scenario] / 1e3 for c in CONFIGURATIONS)
        print(f"| {scenario} | {bare:,.0f}k | {off - bare:,.0f}k | {on - off:,.0f}k |")


if __name__ == "__main__":
    main()
