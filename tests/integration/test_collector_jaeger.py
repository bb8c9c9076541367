"""examples/distributed through the real Collector running collector-config.yaml as shipped.

The gateway and worker services (their own processes, as users run them) export OTLP to
the Collector built from tools/otelcol; it sends traces to the real Jaeger v2, span and SDK
metrics to Prometheus (remote write), the spans file to disk, and orq.ai's copy to a local
OTLP sink. Every assertion is made at those backends, against what the local router served.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gateway
import pytest
from otel_stack import Stack, Unavailable, listens, running_stack
from otlp_receiver import OTLPReceiver, attributes_of
from servers import EXAMPLES, free_port, wait_until

from orq_otel.testing import LocalOpenAIServer

pytestmark = pytest.mark.integration

ORQ_API_KEY = "collector-test-key"
MODEL = "openai/gpt-4o-mini"
LLM_SPAN = f"chat {MODEL}"
# Ada asks twice: counts and sums must add up per identity, not just be present.
TOKENS = ["token-ada", "token-alan", "token-grace", "token-ada"]
ADA_EMAIL = str(gateway.PROFILES["token-ada"]["email"])
REPORT = str(Path(sys.executable).parent / "orq-otel")
ADA_EMAIL_HASH = hashlib.sha256(ADA_EMAIL.encode()).hexdigest()  # the `hash` action: SHA-256 hex


@dataclass(frozen=True)
class Run:
    stack: Stack
    sink: OTLPReceiver
    replies: list[tuple[str, dict[str, Any]]]  # (identity id, the gateway's reply), in order
    served_identities: Counter[str]  # identity id -> LLM requests the router received

    def served_tokens(self, identity: str, kind: str) -> int:
        return sum(int(r[f"{kind}_tokens"]) for who, r in self.replies if who == identity)


def ask(gateway_port: int, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway_port}/ask",
        data=json.dumps({"question": "How can I upgrade my account?"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.load(response))


@contextmanager
def example_services(collector_url: str, router: LocalOpenAIServer, logs: Path) -> Iterator[int]:
    """examples/distributed's worker and gateway, exporting to the Collector; the gateway's port.

    Leaving the block stops both (SIGTERM: each flushes its telemetry on the way out).
    """
    gateway_port, worker_port = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "WORKER_PORT": str(worker_port),
        "WORKER_URL": f"http://127.0.0.1:{worker_port}",
        "ROUTER_URL": "http://api.orq.ai/v3/router",
        "ROUTER_PROXY": router.address,
        "PYTHONPATH": str(EXAMPLES),
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "ORQ_OTEL_RECORD_EMAIL": "true",  # the gateway knows Ada's e-mail: record it
    }
    env.pop("ORQ_API_KEY", None)
    with ExitStack() as stack:
        processes = {}
        for name in ("worker", "gateway"):
            log = stack.enter_context((logs / f"{name}.log").open("wb"))
            processes[name] = subprocess.Popen(
                [sys.executable, str(EXAMPLES / f"{name}.py")], stdout=log, stderr=log, env=env
            )
        try:
            for name, port in (("worker", worker_port), ("gateway", gateway_port)):
                wait_until(lambda p=port: listens(p), 30, f"the {name} service")
            yield gateway_port
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                process.wait(timeout=30)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("otel-stack")
    with ExitStack() as stack:
        sink = stack.enter_context(OTLPReceiver())
        try:
            backends = stack.enter_context(running_stack(sink.url, workdir, ORQ_API_KEY))
        except Unavailable as reason:
            pytest.skip(str(reason))
        router = stack.enter_context(LocalOpenAIServer())
        replies = []
        with example_services(backends.collector.otlp_http, router, workdir) as gateway_port:
            for token in TOKENS:
                identity = str(gateway.PROFILES[token]["id"])
                replies.append((identity, ask(gateway_port, token)))
        served = Counter(str(request.identity["id"]) for request in router.requests)
        yield Run(backends, sink, replies, served)


def identities(run: Run) -> list[str]:
    return sorted(set(run.served_identities))


def tags_of(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def operations(found: dict[str, Any]) -> set[str]:
    return {span["operationName"] for span in found["spans"]}


def jaeger_traces(run: Run, identity: str, expected: int) -> list[dict[str, Any]]:
    """The gateway's traces tagged with this identity, once `expected` of them are complete."""

    def complete() -> list[dict[str, Any]]:
        found = run.stack.jaeger.traces("gateway", {"orq.identity.id": identity})
        done = [t for t in found if {LLM_SPAN, "POST /ask"} <= operations(t)]
        return done if len(done) >= expected else []

    wait_until(complete, 30, f"{expected} trace(s) of {identity} in Jaeger")
    return complete()


def test_each_request_is_one_jaeger_trace_across_both_services_with_the_identity(
    run: Run,
) -> None:
    assert run.served_identities == Counter(
        {"user-ada": 2, "user-alan": 1, "tenant-navy-user-grace": 1}
    )
    for identity, requests in run.served_identities.items():
        traces = jaeger_traces(run, identity, requests)
        assert len(traces) == requests, identity  # one trace per request, no strays
        for found in traces:
            services = {key: p["serviceName"] for key, p in found["processes"].items()}
            by_service = Counter(services[span["processID"]] for span in found["spans"])
            names = {(services[s["processID"]], s["operationName"]) for s in found["spans"]}
            assert {
                ("gateway", "POST /ask"),
                ("worker", "POST /llm"),
                ("worker", LLM_SPAN),
            } <= names
            assert by_service["gateway"] >= 2, by_service
            assert by_service["worker"] >= 3, by_service
            assert {span["traceID"] for span in found["spans"]} == {found["traceID"]}
            assert all(tags_of(s).get("orq.identity.id") == identity for s in found["spans"])
            # The worker's side of it is found by the same tag under its own service name.
            worker_side = run.stack.jaeger.traces("worker", {"orq.identity.id": identity})
            assert found["traceID"] in {t["traceID"] for t in worker_side}


def test_the_collector_hashes_the_email_and_the_address_never_reaches_a_backend(
    run: Run,
) -> None:
    traces = jaeger_traces(run, "user-ada", 2)
    gateway_spans = [s for t in traces for s in t["spans"] if s["operationName"] == "POST /ask"]
    assert [tags_of(s).get("orq.identity.email") for s in gateway_spans] == [ADA_EMAIL_HASH] * 2
    assert ADA_EMAIL not in json.dumps(traces)
    assert ADA_EMAIL not in run.stack.collector.spans_file.read_text()
    orq_copy = [attributes_of(span) for export in run.sink.exports for _, span in export.spans()]
    assert ADA_EMAIL_HASH in {a.get("orq.identity.email") for a in orq_copy}
    assert ADA_EMAIL not in json.dumps(orq_copy)


def promql_by_identity(run: Run, promql: str, expected: dict[str, int]) -> dict[str, float]:
    """`promql` (summed by orq_identity_id) once Prometheus holds `expected`, as a dict."""

    def values() -> dict[str, float]:
        rows = run.stack.prometheus.query(promql)
        return {row["metric"].get("orq_identity_id", ""): float(row["value"][1]) for row in rows}

    # The span metrics connector flushes every 15 s (collector-config.yaml), then remote write.
    wait_until(lambda: values() == expected, 60, f"{promql} == {expected}")
    return values()


def test_prometheus_counts_llm_calls_per_identity_from_the_span_metrics(run: Run) -> None:
    promql = f'sum by (orq_identity_id) (orq_calls_total{{span_name="{LLM_SPAN}"}})'
    expected = dict(run.served_identities)
    assert promql_by_identity(run, promql, expected) == expected


@pytest.mark.parametrize("kind", ["input", "output"])
def test_prometheus_sums_tokens_per_identity_from_the_sdk_metrics(run: Run, kind: str) -> None:
    promql = (
        f'sum by (orq_identity_id) (gen_ai_client_token_usage_sum{{gen_ai_token_type="{kind}"}})'
    )
    expected = {who: run.served_tokens(who, kind) for who in identities(run)}
    assert all(expected.values())
    assert promql_by_identity(run, promql, expected) == expected


def test_orq_otel_report_over_the_collectors_spans_file(run: Run) -> None:
    wait_until(
        lambda: (
            run.stack.collector.spans_file.exists()
            and run.stack.collector.spans_file.read_text().count(LLM_SPAN) >= len(TOKENS)
        ),
        30,
        "the LLM spans in the Collector's file",
    )
    report = subprocess.run(
        [REPORT, "report", "--format", "json", str(run.stack.collector.spans_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {row["group"]: row for row in json.loads(report.stdout)["groups"]}
    assert set(rows) == set(identities(run))
    for identity, requests in run.served_identities.items():
        assert rows[identity]["requests"] == requests
        assert rows[identity]["input_tokens"] == run.served_tokens(identity, "input")
        assert rows[identity]["output_tokens"] == run.served_tokens(identity, "output")


def test_the_orq_exporter_sends_every_llm_span_with_the_bearer_key(run: Run) -> None:
    def llm_spans() -> list[dict[str, Any]]:
        return [
            attributes_of(span)
            for export in run.sink.exports
            for _, span in export.spans()
            if span.name == LLM_SPAN
        ]

    wait_until(lambda: len(llm_spans()) >= len(TOKENS), 30, "the LLM spans at the orq sink")
    assert {export.path for export in run.sink.exports} == {"/v1/traces"}
    bearers = {export.headers.get("authorization") for export in run.sink.exports}
    assert bearers == {f"Bearer {ORQ_API_KEY}"}
    sent = Counter(str(attributes["orq.identity.id"]) for attributes in llm_spans())
    assert sent == run.served_identities
