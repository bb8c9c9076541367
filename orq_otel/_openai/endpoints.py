"""The openai API paths we instrument, and what each one is.

Every openai call, whichever method, view or framework made it, reaches the client's
`request()` with its options; the options' method and path say which endpoint it is. A
row says everything the rest of the package assumes about an endpoint: how its body is
encoded, where an orq host takes the identity, and whether (and how) its reply streams.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOperationNameValues,
)

from orq_otel._openai.stream_observers import (
    CompletionChunkObserver,
    ResponseEventObserver,
    StreamObserver,
    TranscriptEventObserver,
)

# How openai encodes the request body: a JSON object, or multipart form fields beside a file.
BodyKind = Literal["json", "multipart"]
# Where an orq host takes the identity and thread: in an `orq` object in the body, at the
# body's top level (the Responses API, whose schema has no `orq`), or in the
# X-ORQ-IDENTITY-ID header only (a multipart form has no place for a nested object).
Payload = Literal["orq_object", "top_level", "header_only"]
# Whether a reply can come as server-sent events.
StreamKind = Literal["sse", "none"]


class Endpoint(NamedTuple):
    """An instrumented API path (checked when the table below is made)."""

    operation: str  # gen_ai.operation.name
    body: BodyKind
    payload: Payload
    stream: StreamKind
    observer: type[StreamObserver] | None = None  # reads the events of an "sse" stream
    accepts_stream_usage: bool = False  # takes `stream_options.include_usage`

    @property
    def body_takes_additions(self) -> bool:
        """Whether we may add keys to the body: JSON only, never to a multipart form."""
        return self.body == "json"


_OPERATION = GenAiOperationNameValues
CHAT = Endpoint(_OPERATION.CHAT.value, "json", "orq_object", "sse", CompletionChunkObserver, True)
TEXT_COMPLETION = Endpoint(
    _OPERATION.TEXT_COMPLETION.value, "json", "orq_object", "sse", CompletionChunkObserver, True
)
EMBEDDINGS = Endpoint(_OPERATION.EMBEDDINGS.value, "json", "orq_object", "none")
RESPONSES = Endpoint(_OPERATION.CHAT.value, "json", "top_level", "sse", ResponseEventObserver)
# Speech to text: the predefined operation that applies (text content generated from audio).
TRANSCRIPTION = Endpoint(
    _OPERATION.GENERATE_CONTENT.value, "multipart", "header_only", "sse", TranscriptEventObserver
)

# Paths as openai's resources pass them (relative to the client's base URL); openai also
# accepts them without the leading slash.
_BY_PATH = {
    "/chat/completions": CHAT,
    "/completions": TEXT_COMPLETION,
    "/embeddings": EMBEDDINGS,
    "/responses": RESPONSES,
    "/audio/transcriptions": TRANSCRIPTION,
}
_BY_PATH.update({path[1:]: endpoint for path, endpoint in list(_BY_PATH.items())})


def check(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, if its parts agree; else a ValueError saying which do not."""
    if endpoint.body == "multipart" and endpoint.payload != "header_only":
        raise ValueError("a multipart body can take orq's identity in the header only")
    if (endpoint.stream == "sse") != (endpoint.observer is not None):
        raise ValueError("an endpoint that streams needs an observer, and only then")
    return endpoint


for _endpoint in _BY_PATH.values():
    check(_endpoint)


def endpoint_of(options: Any) -> Endpoint | None:
    """The endpoint a request's options are for, or None if we do not instrument it.

    Only POSTs create: `GET /responses/{id}` or `POST /chat/completions/{id}` are other
    operations, and exact paths keep them out.
    """
    endpoint = _BY_PATH.get(getattr(options, "url", None))  # type: ignore[arg-type]
    if endpoint is None or str(getattr(options, "method", "")).lower() != "post":
        return None
    return endpoint
