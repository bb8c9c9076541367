"""What an openai call is about to send, read from the arguments its client's `request()` got.

openai builds one `FinalRequestOptions` per call. The body it sends is `json_data` with
`extra_json` (the caller's `extra_body`) merged over it key by key, encoded as JSON or,
beside a file, as multipart form fields (the endpoint says which); we read that body. Our
additions go in where openai builds each attempt's request (`sending.py`): the caller's
options and dicts are never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orq_otel._openai.endpoints import Endpoint, endpoint_of

# The header openai's with_raw_response / with_streaming_response views add to a call.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_NO_HEADERS: Mapping[str, Any] = {}


class OutgoingRequest:
    """One call's endpoint, body and headers, as openai will send them."""

    __slots__ = ("body", "endpoint", "options", "stream")

    def __init__(self, endpoint: Endpoint, stream: bool, options: Any) -> None:
        self.endpoint = endpoint
        self.options = options
        self.stream = stream  # whether openai parses a stream
        json_data = options.json_data
        body: Mapping[str, Any] = json_data if isinstance(json_data, Mapping) else {}
        extra = options.extra_json
        if extra:
            body = {**body, **extra}  # as openai merges them: extra_body keys win
        self.body = body

    @property
    def headers(self) -> Mapping[str, Any]:
        headers = self.options.headers
        if type(headers) is dict:  # the usual case, without an ABC check on every call
            return headers
        return headers if isinstance(headers, Mapping) else _NO_HEADERS  # or openai's NotGiven

    def has_header(self, name: str) -> bool:
        headers = self.headers
        if not headers:
            return False
        lowered = name.lower()
        return any(key.lower() == lowered for key in headers)

    @property
    def reads_raw_body(self) -> bool:
        """Whether the caller gets the raw HTTP body, where a chunk we hide would still show."""
        return _RAW_RESPONSE_HEADER in self.headers


def outgoing_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> OutgoingRequest | None:
    """The call `request(*args, **kwargs)` makes, if it is one we instrument.

    `request(cast_to, options, *, stream=False, stream_cls=None)`, in every openai >= 1.92.
    """
    options = args[1] if len(args) > 1 else kwargs.get("options")
    endpoint = endpoint_of(options)
    if endpoint is None:
        return None
    return OutgoingRequest(endpoint, kwargs.get("stream") is True, options)
