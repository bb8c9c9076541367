"""Our telemetry as real backends store it: Arize Phoenix (OTLP HTTP and gRPC), Prometheus."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import openai
import pytest
import worker
from backends import Phoenix, running_phoenix, running_prometheus
from conftest import MESSAGES, ORQ_BASE_URL, PROMPT_TOKENS, REPLY_TOKENS
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from prometheus_client import make_asgi_app
from servers import serve_in_thread, wait_until

from orq_otel import OrqInstrumentor, use_identity
from orq_otel.testing import LocalOpenAIServer


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    with running_phoenix() as running:
        yield running


def send_llm_call(exporter: SpanExporter, client: openai.OpenAI, identity_id: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with use_identity(id=identity_id, display_name="Ada", tags=["pro"]):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_phoenix_stores_the_llm_span_with_identity_and_tokens(
    phoenix: Phoenix, orq_client: openai.OpenAI, transport: str
) -> None:
    identity_id = f"phoenix-{transport}-user"
    exporter: SpanExporter = (
        HttpExporter(endpoint=f"http://127.0.0.1:{phoenix.http_port}/v1/traces")
        if transport == "http"
        else GrpcExporter(endpoint=f"127.0.0.1:{phoenix.grpc_port}", insecure=True)
    )
    send_llm_call(exporter, orq_client, identity_id)
    wait_until(
        lambda: phoenix.spans_with("orq.identity.id", identity_id), 30, "the span in Phoenix"
    )
    (stored,) = phoenix.spans_with("orq.identity.id", identity_id)
    attributes = stored["attributes"]
    assert stored["name"] == "chat gpt-4o-mini"
    assert attributes["orq.identity.id"] == identity_id
    assert attributes["orq.identity.display_name"] == "Ada"
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS
    assert attributes["gen_ai.provider.name"] == "orq"


def ask_worker(worker_url: str, identity_id: str) -> None:
    """A call from an upstream service that sent only the id, in W3C baggage."""
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        f"{worker_url}/llm",
        data=json.dumps({"question": "How can I upgrade?"}).encode(),
        headers={"baggage": f"orq.identity.id={identity_id}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 200


def test_prometheus_scrapes_tokens_by_identity_from_the_example(server: LocalOpenAIServer) -> None:
    reader = PrometheusMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    try:
        app = worker.create_app(server.async_client(ORQ_BASE_URL), make_asgi_app())
        with serve_in_thread(app) as worker_url:
            for identity_id in ("prom-user-a", "prom-user-a", "prom-user-b"):
                ask_worker(worker_url, identity_id)
            target = worker_url.removeprefix("http://")
            with running_prometheus(target, "/metrics/") as prometheus:
                query = "sum by (orq_identity_id) (gen_ai_client_token_usage_sum)"
                wait_until(lambda: len(prometheus.query(query)) == 2, 60, "scraped tokens")
                tokens = {
                    row["metric"]["orq_identity_id"]: float(row["value"][1])
                    for row in prometheus.query(query)
                }
                calls = prometheus.query(
                    "sum by (orq_identity_id) (gen_ai_client_operation_duration_seconds_count)"
                )
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
    assert tokens == {"prom-user-a": 2 * (4 + 8), "prom-user-b": 4 + 8}
    assert {row["metric"]["orq_identity_id"]: row["value"][1] for row in calls} == {
        "prom-user-a": "2",
        "prom-user-b": "1",
    }
