"""No growth over 100,000 instrumented calls, abandoned streams included.

    python benchmarks/memory.py [--calls 100000]

Resident memory is read from /proc after a warm-up of a tenth of the calls and at the
end; one call in ten opens a stream and drops it unconsumed (its span must still end).
"""

from __future__ import annotations

import argparse
import gc

import httpx2
import openai
from child import BASE_URL, MESSAGES, MODEL, handler, sdk_providers

from orq_otel import OrqInstrumentor, use_identity


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    calls = parser.parse_args().calls
    tracer_provider, meter_provider, exporter = sdk_providers()
    OrqInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    client = openai.OpenAI(
        base_url=BASE_URL,
        api_key="bench",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    warm_up = calls // 10
    start_kib = 0
    for number in range(calls):
        if number == warm_up:
            gc.collect()
            start_kib = resident_kib()
        with use_identity(id=f"user-{number % 1000}"):  # a thousand distinct users
            if number % 10 == 0:
                client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            else:
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
    gc.collect()
    end_kib = resident_kib()
    print(
        f"memory: {calls:,} calls ({calls // 10:,} streams abandoned unconsumed), "
        f"{exporter.count:,} spans ended; resident {start_kib / 1024:.1f} MiB after "
        f"{warm_up:,} calls -> {end_kib / 1024:.1f} MiB at the end "
        f"({(end_kib - start_kib) / 1024:+.1f} MiB)"
    )
    assert exporter.count == calls, "every call, abandoned streams included, ends its span"


if __name__ == "__main__":
    main()
