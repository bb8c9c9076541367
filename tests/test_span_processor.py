"""`IdentitySpanProcessor`: the identity in effect on every span, with the LLM spans' rules."""

from __future__ import annotations

import pytest
from opentelemetry import context, propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from orq_otel import IdentitySpanProcessor, use_identity


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def tracer_with(exporter: InMemorySpanExporter, processor: IdentitySpanProcessor) -> Tracer:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    return tracer_with(exporter, IdentitySpanProcessor())


def attributes(exporter: InMemorySpanExporter) -> list[dict[str, object]]:
    return [dict(span.attributes or {}) for span in exporter.get_finished_spans()]


def test_spans_started_under_an_identity_carry_it(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with use_identity(id="user-1", display_name="Ada", email="ada@example.com"):
        tracer.start_span("db query").end()
    (span,) = attributes(exporter)
    assert span["orq.identity.id"] == "user-1"
    assert span["enduser.id"] == "user-1"
    assert span["orq.identity.display_name"] == "Ada"
    assert "orq.identity.email" not in span


def test_the_email_only_with_record_email(exporter: InMemorySpanExporter) -> None:
    tracer = tracer_with(exporter, IdentitySpanProcessor(record_email=True))
    with use_identity(id="user-1", email="ada@example.com"):
        tracer.start_span("db query").end()
    assert attributes(exporter)[0]["orq.identity.email"] == "ada@example.com"


def test_spans_without_an_identity_are_left_alone(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    tracer.start_span("health check").end()
    assert attributes(exporter) == [{}]


def test_an_identity_already_on_the_span_is_kept(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with use_identity(id="ambient"):
        tracer.start_span("llm", attributes={"orq.identity.id": "explicit"}).end()
    assert attributes(exporter)[0]["orq.identity.id"] == "explicit"


def test_an_identity_from_baggage_is_on_the_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    token = context.attach(propagate.extract({"baggage": "orq.identity.id=remote-user"}))
    try:
        tracer.start_span("handler").end()
    finally:
        context.detach(token)
    assert attributes(exporter)[0]["orq.identity.id"] == "remote-user"


def test_the_span_in_progress_gets_the_identity_set_inside_it(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    # A server span starts before the application knows the user.
    with tracer.start_as_current_span("POST /ask"), use_identity(id="user-1"):
        pass
    assert attributes(exporter)[0]["orq.identity.id"] == "user-1"
