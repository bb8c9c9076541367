"""Per identity: a refusal counts from anywhere, consent that enables recording only from an
identity set in this process or verified by its signature, and `content_policy` lowers the
ceiling but never raises it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import baggage, context, propagate
from test_content_capture import Capture, capturing

from orq_otel import use_identity

SECRET = "a-secret-of-at-least-16-characters"


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


def call(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])


def recorded(capture: Capture) -> list[tuple[bool, bool]]:
    """Per call: (content on the span, a content event), in call order."""
    spans = capture.spans_exporter.get_finished_spans()
    events = {event.span_id for event in capture.events()}
    return [(bool(capture.content(span)), span.context.span_id in events) for span in spans]


def from_another_service(**identity: Any) -> dict[str, str]:
    """The baggage header a service upstream sends for this identity (signed there if
    that service has the secret)."""
    carrier: dict[str, str] = {}
    with use_identity(**identity):
        propagate.inject(carrier)
    return carrier


def call_as_received(client: openai.OpenAI, carrier: dict[str, str]) -> None:
    """A call made for the identity in the baggage this service received (none set here)."""
    token = context.attach(propagate.extract(carrier))
    try:
        call(client)
    finally:
        context.detach(token)


REFUSALS = [
    {"metadata": {"content_capture": False}},
    {"metadata": {"content_capture": "false"}},
    {"tags": ["content_capture:refused"]},
    {"tags": ["content_capture:refused", "content_capture:consented"]},  # refusal wins
]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_an_identity_can_refuse(
    capture: Capture, plain_client: openai.OpenAI, refusal: dict[str, Any]
) -> None:
    capture.instrument(capture_content="span_and_event")
    with use_identity(id="refuses", **refusal):
        call(plain_client)
    with use_identity(id="says-nothing"):
        call(plain_client)
    assert recorded(capture) == [(False, False), (True, True)]


def test_a_refusal_counts_even_from_unsigned_baggage(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    call_as_received(plain_client, from_another_service(id="u", tags=["content_capture:refused"]))
    assert recorded(capture) == [(False, False)]


def test_consent_required_records_only_for_a_consenting_identity_set_here(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_consent_required=True)
    with use_identity(id="consents", metadata={"content_capture": True}):
        call(plain_client)
    with use_identity(id="consents-by-tag", tags=["content_capture:consented"]):
        call(plain_client)
    with use_identity(id="silent"):
        call(plain_client)
    call(plain_client)  # nobody
    assert recorded(capture) == [(True, False), (True, False), (False, False), (False, False)]


def test_consent_in_unsigned_baggage_does_not_enable_recording(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    """Anyone upstream can write baggage: consent from it would let them switch capture on."""
    capture.instrument(capture_content="span_only", content_consent_required=True)
    carrier = from_another_service(id="u", metadata={"content_capture": True})
    assert baggage.get_baggage("orq.identity.id", propagate.extract(carrier)) == "u"
    call_as_received(plain_client, carrier)
    attributes = capture.only_span().attributes or {}
    assert attributes["orq.identity.id"] == "u"  # the identity counts for attribution...
    assert recorded(capture) == [(False, False)]  # ...not for consent


def test_consent_in_verified_baggage_enables_recording(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(
        capture_content="span_only", content_consent_required=True, identity_secret=SECRET
    )
    signed = from_another_service(id="u", metadata={"content_capture": True})
    call_as_received(plain_client, signed)
    assert "orq.identity.id=u," in signed["baggage"]
    forged = {"baggage": signed["baggage"].replace("orq.identity.id=u,", "orq.identity.id=v,")}
    call_as_received(plain_client, forged)
    assert recorded(capture) == [(True, False), (False, False)]


@pytest.mark.parametrize(
    ("ceiling", "answer", "expected"),
    [
        ("span_and_event", "event_only", (False, True)),
        ("span_and_event", "SPAN_ONLY", (True, False)),
        ("span_and_event", None, (True, True)),
        ("span_only", "span_and_event", (True, False)),  # never above the ceiling
        ("event_only", "span_only", (False, False)),
        ("span_only", "no_content", (False, False)),
        ("span_only", "all of it", (False, False)),  # not a mode: nothing
    ],
)
def test_content_policy_can_only_lower_the_ceiling(
    capture: Capture,
    plain_client: openai.OpenAI,
    ceiling: str,
    answer: str | None,
    expected: tuple[bool, bool],
) -> None:
    asked: list[tuple[Any, Any]] = []

    def policy(identity: Any, call_info: Any) -> str | None:
        asked.append((identity, call_info))
        return answer

    capture.instrument(capture_content=ceiling, content_policy=policy)
    with use_identity(id="tenant-7-user"):
        call(plain_client)
    assert recorded(capture) == [expected]
    ((identity, call_info),) = asked
    assert identity.id == "tenant-7-user"
    assert (call_info.operation, call_info.api, call_info.model, call_info.stream) == (
        "chat",
        "chat_completions",
        "m",
        False,
    )


def test_a_policy_that_raises_records_nothing_and_logs_once_without_values(
    capture: Capture, plain_client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    def policy(identity: Any, call_info: Any) -> str:
        raise RuntimeError(f"no rule for {identity.id}")

    capture.instrument(capture_content="span_only", content_policy=policy)
    with use_identity(id="secret-user"):
        call(plain_client)
        call(plain_client)
    assert recorded(capture) == [(False, False), (False, False)]
    ours = [record.getMessage() for record in caplog.records if record.name == "orq_otel"]
    assert ours == [
        "content_policy raised RuntimeError; calls it raises for record no content (logged once)"
    ]
