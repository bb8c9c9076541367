"""The two example services on loopback: one trace, identity across the hop, on every span."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import gateway
import pytest
import worker
from conftest import ORQ_BASE_URL, REPLY_TOKENS
from opentelemetry import trace
from opentelemetry.instrumentation import httpx as httpx_instrumentation
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servers import EXAMPLES, IdleClosingServer, serve_in_thread, wait_until

from orq_otel import IdentitySpanProcessor, OrqInstrumentor
from orq_otel.testing import LocalOpenAIServer

ADA = gateway.PROFILES["token-ada"]


@dataclass
class Services:
    gateway_url: str
    exporter: InMemorySpanExporter

    def spans(self, *server_spans: str) -> list[ReadableSpan]:
        """Finished spans, once the named server spans (which end after replying) are in."""
        wait_until(
            lambda: set(server_spans) <= {s.name for s in self.exporter.get_finished_spans()},
            10,
            f"server spans {server_spans}",
        )
        return list(self.exporter.get_finished_spans())


@pytest.fixture(scope="module")
def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """The process's global tracer provider (the ASGI middleware uses the global one)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(IdentitySpanProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    if trace.get_tracer_provider() is not tracer_provider:
        pytest.skip("another test installed the global tracer provider first")
    return tracer_provider, exporter


@pytest.fixture(scope="module")
def services(
    provider: tuple[TracerProvider, InMemorySpanExporter], server: LocalOpenAIServer
) -> Iterator[Services]:
    tracer_provider, exporter = provider
    instrumentors: list[BaseInstrumentor] = [
        OrqInstrumentor(),
        httpx_instrumentation.HTTPX2ClientInstrumentor(),
    ]
    if importlib.util.find_spec("httpx") is not None:  # openai 1.x sends through httpx
        instrumentors.append(httpx_instrumentation.HTTPXClientInstrumentor())
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=tracer_provider)
    llm = server.async_client(ORQ_BASE_URL)
    try:
        with (
            serve_in_thread(worker.create_app(llm)) as worker_url,
            serve_in_thread(gateway.create_app(worker_url)) as gateway_url,
        ):
            yield Services(gateway_url, exporter)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def post_ask(
    gateway_url: str, token: str, conversation: str | None = None
) -> tuple[int, dict[str, object]]:
    """POST /ask by a client without instrumentation (as a browser would be)."""
    question = {"question": "How can I upgrade?", "conversation": conversation}
    request = urllib.request.Request(  # noqa: S310 - a loopback URL of the test's own server
        f"{gateway_url}/ask",
        data=json.dumps(question).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def ask(
    services: Services, token: str, conversation: str | None = None
) -> tuple[int, dict[str, object]]:
    """A request from outside, and its spans once they have all ended."""
    services.exporter.clear()
    status, body = post_ask(services.gateway_url, token, conversation)
    # Server spans end just after their response is sent: wait for this request's, so that
    # none of them lands among the next test's spans.
    services.spans("POST /ask", *(["POST /llm"] if status == 200 else []))
    return status, body


def test_identity_set_at_the_gateway_reaches_the_router(
    services: Services, server: LocalOpenAIServer
) -> None:
    status, reply = ask(services, "token-ada")
    assert status == 200
    assert reply["output_tokens"] == REPLY_TOKENS
    sent = server.requests[-1]
    assert sent.host == "api.orq.ai"
    # The propagated fields crossed the hop; the e-mail stays in the gateway process.
    assert sent.json["orq"]["identity"] == {
        key: ADA[key] for key in ("id", "display_name", "tags", "metadata")
    }


def test_the_gateway_answers_every_request_when_the_worker_closes_idle_connections() -> None:
    """It forwards POSTs, which it must not replay: it must not send one on a connection
    that the worker's keep-alive timeout may be closing (the caller would get a 500)."""
    with (
        IdleClosingServer() as closing_worker,
        serve_in_thread(gateway.create_app(closing_worker.url)) as gateway_url,
    ):
        replies = [post_ask(gateway_url, "token-alan") for _ in range(3)]
    assert [status for status, _ in replies] == [200] * 3
    assert [reply["answer"] for _, reply in replies] == [IdleClosingServer.REPLY["answer"]] * 3


def test_gateway_to_llm_span_is_one_trace(services: Services) -> None:
    ask(services, "token-alan")
    spans = services.spans("POST /ask", "POST /llm")
    llm = [span for span in spans if span.name == "chat openai/gpt-4o-mini"]
    assert len(llm) == 1
    assert {span.context.trace_id for span in spans} == {llm[0].context.trace_id}
    server_spans = [span for span in spans if span.kind is trace.SpanKind.SERVER]
    assert {span.name for span in server_spans} == {"POST /ask", "POST /llm"}


def test_worker_llm_span_carries_the_identity(services: Services) -> None:
    ask(services, "token-ada")
    (llm,) = [span for span in services.spans("POST /llm") if span.name.startswith("chat")]
    attributes = dict(llm.attributes or {})
    assert attributes["orq.identity.id"] == "user-ada"
    assert attributes["orq.identity.display_name"] == "Ada Lovelace"
    assert attributes["orq.identity.metadata.plan"] == "pro"
    assert attributes["gen_ai.usage.input_tokens"] == 4  # "How can I upgrade?"


def test_every_span_of_the_request_carries_the_identity(services: Services) -> None:
    ask(services, "token-grace")
    spans = services.spans("POST /ask", "POST /llm")
    assert len(spans) >= 6  # two servers, the hop, the router call, the LLM span
    missing = [s.name for s in spans if (s.attributes or {}).get("orq.identity.id") is None]
    assert missing == []
    assert all("orq.identity.email" not in (s.attributes or {}) for s in spans)


def test_the_conversation_thread_crosses_the_hop_to_the_router_and_the_llm_span(
    services: Services, server: LocalOpenAIServer
) -> None:
    status, reply = ask(services, "token-alan", conversation="conversation-alan-1")
    assert status == 200
    assert reply["conversation"] == "conversation-alan-1"
    assert server.requests[-1].thread == {"id": "conversation-alan-1", "tags": ["gateway"]}
    (llm,) = [span for span in services.spans("POST /llm") if span.name.startswith("chat")]
    attributes = dict(llm.attributes or {})
    assert attributes["gen_ai.conversation.id"] == "conversation-alan-1"
    assert attributes["orq.identity.id"] == "user-alan"


def test_a_new_conversation_gets_a_thread_of_its_own(
    services: Services, server: LocalOpenAIServer
) -> None:
    first = ask(services, "token-ada")[1]["conversation"]
    second = ask(services, "token-ada")[1]["conversation"]
    assert first != second
    assert server.requests[-1].thread == {"id": second, "tags": ["gateway"]}


def test_unknown_token_is_refused_and_no_llm_call_is_made(
    services: Services, server: LocalOpenAIServer
) -> None:
    before = len(server.requests)
    assert ask(services, "stolen-token")[0] == 401
    assert len(server.requests) == before


def test_example_command_runs_offline_as_written(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ORQ_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "main.py")],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=True,
    )
    out = result.stdout
    assert "router received orq.identity for: user-ada, user-alan, tenant-navy-user-grace" in out
    assert "traces went to the console" in out
    for name in ("gateway", "worker"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name}:"))
        spans, with_identity = (int(word) for word in line.split() if word.isdigit())
        assert spans > 0
        assert with_identity == spans
