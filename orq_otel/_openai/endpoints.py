"""The openai API paths we instrument, and what each one is.

Every openai call, whichever method, view or framework made it, reaches the client's
`request()` with its options; the options' method and path say which endpoint it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOperationNameValues,
)

from orq_otel._openai.stream_observers import (
    CompletionChunkObserver,
    ResponseEventObserver,
    StreamObserver,
)


@dataclass(frozen=True)
class Endpoint:
    """An instrumented API path."""

    operation: str  # gen_ai.operation.name
    stream_options: bool  # whether the endpoint takes `stream_options.include_usage`
    observer: type[StreamObserver]
    # The Responses API takes orq's fields at the top level of the body; the others in `orq`.
    top_level_orq_fields: bool = False


CHAT = Endpoint(GenAiOperationNameValues.CHAT.value, True, CompletionChunkObserver)
TEXT_COMPLETION = Endpoint(
    GenAiOperationNameValues.TEXT_COMPLETION.value, True, CompletionChunkObserver
)
EMBEDDINGS = Endpoint(GenAiOperationNameValues.EMBEDDINGS.value, False, StreamObserver)
RESPONSES = Endpoint(GenAiOperationNameValues.CHAT.value, False, ResponseEventObserver, True)

# Paths as openai's resources pass them (relative to the client's base URL); openai also
# accepts them without the leading slash.
_BY_PATH = {
    "/chat/completions": CHAT,
    "/completions": TEXT_COMPLETION,
    "/embeddings": EMBEDDINGS,
    "/responses": RESPONSES,
}
_BY_PATH.update({path[1:]: endpoint for path, endpoint in list(_BY_PATH.items())})


def endpoint_of(options: Any) -> Endpoint | None:
    """The endpoint a request's options are for, or None if we do not instrument it.

    Only POSTs create: `GET /responses/{id}` or `POST /chat/completions/{id}` are other
    operations, and exact paths keep them out.
    """
    endpoint = _BY_PATH.get(getattr(options, "url", None))  # type: ignore[arg-type]
    if endpoint is None or str(getattr(options, "method", "")).lower() != "post":
        return None
    return endpoint
