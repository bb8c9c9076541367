"""Content capture decided per identity: a support chat where one customer consented to
having their conversations recorded for debugging and another did not.

    python examples/content_capture.py

Runs offline against orq_otel.testing.LocalOpenAIServer and prints each call's span as an
exporter would see it. Content capture is on (`span_only`) but only for identities that
consented (`content_consent_required=True`), the customer's own e-mail and name are
replaced before anything is recorded, and a redactor of ours masks card numbers, tool-call
arguments included.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orq_otel import OrqInstrumentor, use_identity
from orq_otel.testing import LocalOpenAIServer, MessageReply, ToolCall

CARD = re.compile(r"\b\d{4}(?: ?\d{4}){3}\b")
LOOKUP_ORDER: Any = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "parameters": {"type": "object", "properties": {"card": {"type": "string"}}},
    },
}
CUSTOMERS: Any = [
    {  # consented, in the app's own user record: set in this process, so it counts
        "id": "cust-ada",
        "display_name": "Ada Lovelace",
        "email": "ada@example.com",
        "metadata": {"content_capture": True},
    },
    {"id": "cust-alan", "display_name": "Alan Turing", "email": "alan@example.com"},
]


def mask_cards(content: dict[str, Any], identity: Any) -> dict[str, Any]:
    """Our redactor: it sees every part, tool-call arguments included."""
    masked: dict[str, Any] = json.loads(CARD.sub("[card]", json.dumps(content)))
    return masked


def ask(client: Any, server: LocalOpenAIServer, customer: dict[str, Any]) -> None:
    name, email = customer["display_name"], customer["email"]
    server.script(
        MessageReply(
            f"Let me look that up for you, {name}.",
            tool_calls=[ToolCall("lookup_order", {"card": "4111 1111 1111 1111"})],
        )
    )
    with use_identity(customer):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You are a helpful support agent."},
                {
                    "role": "user",
                    "content": f"I'm {name} ({email}). My order paid with card "
                    "4111 1111 1111 1111 never arrived.",
                },
            ],
            tools=[LOOKUP_ORDER],
        )


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OrqInstrumentor()
    instrumentor.instrument(
        tracer_provider=provider,
        capture_content="span_only",
        content_consent_required=True,
        content_redactor=mask_cards,
    )
    try:
        with LocalOpenAIServer() as server, server.client() as client:
            for customer in CUSTOMERS:
                ask(client, server, customer)
    finally:
        instrumentor.uninstrument()
    for span in exporter.get_finished_spans():
        attributes = dict(span.attributes or {})
        print(f"--- {span.name} for {attributes['orq.identity.id']}")
        for name in ("gen_ai.input.messages", "gen_ai.output.messages"):
            print(f"{name}: {attributes.get(name, '(not recorded)')}")


if __name__ == "__main__":
    main()
