"""The worker: calls the LLM for whoever the request is for. No identity code at all.

The instrumented server restores the baggage the gateway sent; orq-otel reads the
identity from it, injects it into the orq router request and records it on the span.
"""

from __future__ import annotations

import os

import openai
from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import make_asgi_app
from service import instrument_http_clients, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

import orq_otel

MODEL = os.environ.get("WORKER_MODEL", "openai/gpt-4o-mini")


def create_app(llm: openai.AsyncOpenAI, metrics_app: ASGIApp | None = None) -> ASGIApp:
    async def answer(request: Request) -> Response:
        question = (await request.json()).get("question", "")
        completion = await llm.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        usage = completion.usage
        return JSONResponse(
            {
                "answer": completion.choices[0].message.content,
                "input_tokens": usage.prompt_tokens if usage else None,
                "output_tokens": usage.completion_tokens if usage else None,
            }
        )

    routes: list[Route | Mount] = [Route("/llm", answer, methods=["POST"])]
    if metrics_app is not None:
        routes.append(Mount("/metrics", metrics_app))
    return OpenTelemetryMiddleware(Starlette(routes=routes))


def main() -> None:
    # Metrics for Prometheus to scrape at /metrics (tokens and latency per identity).
    resource = Resource.create({"service.name": "worker"})
    readers: list[MetricReader] = [PrometheusMetricReader()]
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # ...and pushed over OTLP with the spans (e.g. to the collector of collector-config.yaml).
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    handle = orq_otel.setup("worker", identity_on_every_span=True)
    instrument_http_clients()
    api_key = os.environ.get("ORQ_API_KEY", "local-key")
    llm = openai.AsyncOpenAI(
        base_url=os.environ["ROUTER_URL"],
        api_key=api_key,
        http_client=openai.DefaultAsyncHttpxClient(proxy=os.environ.get("ROUTER_PROXY")),
    )
    serve(create_app(llm, make_asgi_app()), int(os.environ.get("WORKER_PORT", "8001")), handle)


if __name__ == "__main__":
    main()
