"""What faults cost the application: a collector that cannot be reached, a resolver that hangs.

    python benchmarks/faults.py [--calls 100]

- shutdown: `setup()` exporting over OTLP/HTTP to a port nothing listens on (connection
  refused) and to a collector that accepts connections and never answers, one span pending;
  the time `SetupHandle.shutdown()` takes, with its default timeout, in a fresh process.
- resolver: `--calls` calls for one identity, and then for 8 identities, with an
  `identity_resolver` that never returns and a 2 s `identity_resolver_timeout`; the total
  time the calls took.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SHUTDOWN_APP = """
import time, orq_otel
from orq_otel.testing import LocalOpenAIServer
handle = orq_otel.setup("faults")
with LocalOpenAIServer() as server, server.client() as client:
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
started = time.perf_counter()
handle.shutdown()
print(f"{time.perf_counter() - started:.2f}")
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel accepts and nothing ever answers.

    (Not a blackholed address: on a machine with no route to it, it fails at once and
    measures nothing.)
    """
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield int(silent.getsockname()[1])


def time_shutdown(endpoint: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ORQ_"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    result = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_APP],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def time_hanging_resolver(calls: int, identities: int) -> float:
    import httpx2
    import openai
    from child import BASE_URL, MESSAGES, MODEL, handler, sdk_providers

    from orq_otel import OrqInstrumentor, use_identity

    never = threading.Event()

    def hanging(identity_id: str) -> None:
        never.wait()  # a database that stopped answering

    tracer_provider, meter_provider, _ = sdk_providers()
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        identity_resolver=hanging,
        identity_resolver_timeout=2.0,
    )
    client = openai.OpenAI(
        base_url=BASE_URL,
        api_key="bench",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    started = time.perf_counter()
    for number in range(calls):
        with use_identity(id=f"user-{number % identities}"):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    elapsed = time.perf_counter() - started
    instrumentor.uninstrument()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    options = parser.parse_args()
    refused = f"http://127.0.0.1:{closed_port()}"
    print(f"shutdown, collector refusing connections: {time_shutdown(refused)} s")
    with silent_port() as port:
        never_answering = f"http://127.0.0.1:{port}"
        print(f"shutdown, collector never answering:      {time_shutdown(never_answering)} s")
    for identities in (1, 8):
        elapsed = time_hanging_resolver(options.calls, identities)
        print(
            f"{options.calls} calls, {identities} identit{'y' if identities == 1 else 'ies'}, "
            f"resolver hanging (timeout 2 s): {elapsed:.1f} s"
        )


if __name__ == "__main__":
    main()
