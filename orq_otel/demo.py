"""Offline demo: three users, a gateway and a worker, one OpenAI client, identity on every call.

Run ``python -m orq_otel.demo`` (needs ``pip install 'orq-otel[examples]'``). It starts a
local OpenAI-compatible server in-process, so no key and no network are needed. With
``ORQ_API_KEY`` set it calls the real orq.ai router instead.

The gateway authenticates a user and sets the identity; the identity crosses to the worker
in a W3C ``baggage`` header, exactly as instrumented HTTP clients and servers carry it;
the worker calls the LLM. Each call's span carries the identity and token counts, and the
orq router receives the identity in the request body.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from opentelemetry import context, propagate

import orq_otel
from orq_otel import OrqInstrumentor, use_identity, use_thread
from orq_otel._openai.injection import IDENTITY_HEADER
from orq_otel.testing import LocalOpenAIServer

ORQ_ROUTER_URL = "https://api.orq.ai/v3/router"
LOCAL_ROUTER_URL = "http://api.orq.ai/v3/router"  # reached through the local server

USERS = (
    {
        "id": "user-ada",
        "display_name": "Ada Lovelace",
        "tags": ["pro"],
        "metadata": {"plan": "pro"},
    },
    {
        "id": "user-alan",
        "display_name": "Alan Turing",
        "tags": ["free"],
        "metadata": {"plan": "free"},
    },
    {"id": "support-TICKET-789", "tags": ["support"], "metadata": {"issue_type": "billing"}},
)


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import metrics, trace  # noqa: PLC0415 - an optional extra
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
            InMemorySpanExporter,
        )
    except ImportError:
        sys.exit("The demo needs the OpenTelemetry SDK: pip install 'orq-otel[examples]'")
    exporter = InMemorySpanExporter()
    tracer_provider = trace.TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return exporter, tracer_provider, reader, metrics.MeterProvider(metric_readers=[reader])


@contextmanager
def _router(stack: ExitStack) -> Iterator[tuple[Any, LocalOpenAIServer | None, str]]:
    import openai  # noqa: PLC0415 - an optional extra

    api_key = os.environ.get("ORQ_API_KEY")
    if api_key:
        with openai.OpenAI(base_url=ORQ_ROUTER_URL, api_key=api_key) as client:
            yield client, None, "openai/gpt-4o-mini"
        return
    server = stack.enter_context(LocalOpenAIServer(cached_tokens=2))
    with server.client(LOCAL_ROUTER_URL) as client:
        yield client, server, "openai/gpt-4o-mini"


def gateway(user: Mapping[str, Any]) -> dict[str, str]:
    """Authenticates the user, starts their conversation, and calls the worker with its headers."""
    headers: dict[str, str] = {}
    with use_identity(user), use_thread(f"conversation-{user['id']}", tags=["demo"]):
        propagate.inject(headers)  # what an instrumented HTTP client does on the hop
    return headers


def worker(headers: Mapping[str, str], client: Any, model: str) -> None:
    """Receives the request (baggage header) and calls the LLM: no identity code here."""
    token = context.attach(propagate.extract(headers))  # what an instrumented server does
    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "How can I upgrade my account?"}]
        )
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Summarise my plan"}], stream=True
        )
        for _ in stream:
            pass
    finally:
        context.detach(token)


def _print_spans(spans: list[Any]) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    print(f"\n{'span':<28} {'orq.identity.id':<20} {'display_name':<14} {'in':>4} {'out':>4}")
    for span in spans:
        attributes = dict(span.attributes or {})
        user = str(attributes.get("orq.identity.id", "-"))
        tokens_in = int(attributes.get("gen_ai.usage.input_tokens", 0))
        tokens_out = int(attributes.get("gen_ai.usage.output_tokens", 0))
        name = str(attributes.get("orq.identity.display_name", "-"))
        print(f"{span.name:<28} {user:<20} {name:<14} {tokens_in:>4} {tokens_out:>4}")
        totals[user][0] += 1
        totals[user][1] += tokens_in
        totals[user][2] += tokens_out
    return totals


def main() -> None:
    exporter, tracer_provider, _, meter_provider = _sdk()
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    print(f"orq-otel {orq_otel.__version__} demo")
    try:
        with ExitStack() as stack, _router(stack) as (client, server, model):
            where = "the local router (offline)" if server else ORQ_ROUTER_URL
            print(f"LLM calls go to {where} as {client.base_url}")
            for user in USERS:
                headers = gateway(user)
                print(f"\ngateway -> worker for {user['id']}\n  baggage: {headers['baggage']}")
                worker(headers, client, model)
                if server is not None:
                    sent = server.requests[-1]
                    print(f"  router received orq.identity = {sent.identity}")
                    print(f"  router received orq.thread   = {sent.thread}")
                    print(f"  and the header X-ORQ-IDENTITY-ID: {sent.header(IDENTITY_HEADER)}")
            totals = _print_spans(list(exporter.get_finished_spans()))
    finally:
        instrumentor.uninstrument()
    print(f"\n{'identity':<20} {'calls':>5} {'input tokens':>13} {'output tokens':>14}")
    for user_id, (calls, tokens_in, tokens_out) in totals.items():
        print(f"{user_id:<20} {calls:>5} {tokens_in:>13} {tokens_out:>14}")


if __name__ == "__main__":
    main()
