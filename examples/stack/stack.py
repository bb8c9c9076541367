"""Jaeger, the OpenTelemetry Collector and Prometheus on this machine, no Docker.

    bash examples/stack/run.sh            # builds (or reuses) them, runs the example, stops
    bash examples/stack/run.sh --serve    # ... and keeps them up until Ctrl-C

Starts Jaeger v2 and the Collector (built from their pinned Go modules into .otel-bin/ by
tools/build.sh) and Debian's Prometheus, on free 127.0.0.1 ports, with the shipped
collector-config.yaml; runs examples/distributed/main.py against the Collector; then
prints where to look: Jaeger's traces of a user, a PromQL query and its answer, and
`orq-otel report` over the Collector's spans file. Without ORQ_API_KEY, the config's
orq.ai exporter goes to a local stand-in, so nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]

from otel_stack import Stack, running_stack  # noqa: E402 - the launcher the tests use
from otlp_receiver import OTLPReceiver  # noqa: E402

USER = "user-ada"
CALLS = 'sum by (orq_identity_id) (orq_calls_total{span_name="chat openai/gpt-4o-mini"})'
TOKENS = "sum by (orq_identity_id, gen_ai_token_type) (gen_ai_client_token_usage_sum)"


def wait_for(check: Callable[[], Any], seconds: float) -> Any:
    """Poll `check()` until it returns something truthy, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    return check()


def run_example(stack: Stack) -> None:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.otlp_http,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "ORQ_OTEL_RECORD_EMAIL": "true",  # the Collector hashes it: look for the hash in Jaeger
    }
    subprocess.run(  # noqa: S603 - the distributed example, with this interpreter
        [sys.executable, str(ROOT / "examples" / "distributed" / "main.py")],
        env=env,
        check=True,
        timeout=300,
    )


def show_jaeger(stack: Stack) -> None:
    tags = json.dumps({"orq.identity.id": USER})
    traces = wait_for(lambda: stack.jaeger.traces("gateway", {"orq.identity.id": USER}), 30)
    print(f"\nJaeger: {stack.jaeger.ui}  (query API below; search tag orq.identity.id={USER})")
    query = urllib.parse.urlencode({"service": "gateway", "tags": tags})
    print(f"  {stack.jaeger.ui}/api/traces?{query}")
    for found in traces:
        services = {key: p["serviceName"] for key, p in found["processes"].items()}
        spans = sorted(f"{services[s['processID']]}: {s['operationName']}" for s in found["spans"])
        print(f"  trace {found['traceID']}: {len(spans)} spans")
        for span in spans:
            print(f"    {span}")


def counted(stack: Stack, promql: str) -> list[dict[str, Any]]:
    """The query's rows once each counts something (span metrics start at 0), else []."""
    rows = stack.prometheus.query(promql)
    return rows if rows and all(float(row["value"][1]) > 0 for row in rows) else []


def show_prometheus(stack: Stack) -> None:
    print(f"\nPrometheus: {stack.prometheus.url}  (span metrics flush every 15 s)")
    for promql in (CALLS, TOKENS):
        rows = wait_for(partial(counted, stack, promql), 60)
        print(f"  {promql}")
        for row in rows:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(row["metric"].items()))
            print(f"    {{{labels}}} {row['value'][1]}")


def show_report(stack: Stack) -> None:
    spans_file = stack.collector.spans_file
    wait_for(lambda: spans_file.exists() and "chat " in spans_file.read_text(), 30)
    print(f"\norq-otel report {spans_file}")
    subprocess.run(  # noqa: S603 - our own command, with this interpreter
        [sys.executable, "-m", "orq_otel._report.cli", "report", str(spans_file)],
        check=True,
        timeout=60,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="keep running until Ctrl-C")
    options = parser.parse_args()
    # Line by line: our lines stay in order with those of the example's own process.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # SIGTERM unwinds like Ctrl-C: every process started here is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="orq-otel-stack-"))
    with ExitStack() as stack:
        if os.environ.get("ORQ_API_KEY"):
            orq_endpoint = "https://api.orq.ai/v2/otel"
        else:
            orq_endpoint = stack.enter_context(OTLPReceiver()).url
        backends = stack.enter_context(running_stack(orq_endpoint, workdir))
        print(f"Collector (collector-config.yaml): OTLP {backends.collector.otlp_http}")
        print(f"Jaeger {backends.jaeger.ui}, Prometheus {backends.prometheus.url}\n")
        run_example(backends)
        show_jaeger(backends)
        show_prometheus(backends)
        show_report(backends)
        print(f"\nlogs and the spans file: {workdir}")
        if options.serve:
            print("running; Ctrl-C stops Jaeger, the Collector and Prometheus")
            signal.pause()
    print("stopped Jaeger, the Collector and Prometheus")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\nstopped Jaeger, the Collector and Prometheus")
