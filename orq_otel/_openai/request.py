"""What an openai call is about to send, read from the options its client's `request()` got.

openai builds one `FinalRequestOptions` per call. The JSON body it sends is `json_data`
with `extra_json` (the caller's `extra_body`) merged over it key by key; we read that body.
To change a request we hand openai a copy of the options with our additions in
`extra_json` and `headers`: the caller's options and dicts are never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orq_otel._openai.endpoints import Endpoint

# The header openai's with_raw_response / with_streaming_response views add to a call.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_NO_HEADERS: Mapping[str, Any] = {}


class OutgoingRequest:
    """One call's endpoint, body and headers, as openai will send them."""

    __slots__ = ("body", "endpoint", "options", "stream")

    def __init__(self, endpoint: Endpoint, options: Any, stream: bool) -> None:
        self.endpoint = endpoint
        self.options = options
        self.stream = stream  # whether openai parses the reply as a stream
        json_data = options.json_data
        body: Mapping[str, Any] = json_data if isinstance(json_data, Mapping) else {}
        extra = options.extra_json
        if extra:
            body = {**body, **extra}  # as openai merges them: extra_body keys win
        self.body = body

    @property
    def headers(self) -> Mapping[str, Any]:
        headers = self.options.headers
        return headers if isinstance(headers, Mapping) else _NO_HEADERS  # or openai's NotGiven

    def has_header(self, name: str) -> bool:
        lowered = name.lower()
        return any(key.lower() == lowered for key in self.headers)

    @property
    def reads_raw_body(self) -> bool:
        """Whether the caller gets the raw HTTP body, where a chunk we hide would still show."""
        return _RAW_RESPONSE_HEADER in self.headers

    def with_additions(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        """A copy of the options whose body gains `body`'s keys and headers gain `headers`'."""
        update: dict[str, Any] = {}  # one copy, no validated assignment per field
        if body:
            update["extra_json"] = {**(self.options.extra_json or {}), **body}
        if headers:
            update["headers"] = {**self.headers, **headers}
        return self.options.model_copy(update=update)
