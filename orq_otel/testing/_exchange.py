"""What the local server records of a request, and the replies a test can script."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orq_otel.testing._replies import MessageReply
from orq_otel.testing._router import (
    attributed_identity,
    attributed_thread,
    continues_trace,
    header_value,
)
from orq_otel.testing._transcriptions import form_fields


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    host: str  # the host the client addressed (the Host header or the proxy target)
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body, read as JSON (the JSON endpoints)."""
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, Any]:
        """The body's multipart form fields (`/audio/transcriptions`); a file gives its name."""
        return form_fields(self.header("Content-Type") or "", self.body)

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name; None if it was not sent."""
        return header_value(self.headers, name)

    @property
    def identity(self) -> Any:
        """The identity the orq router attributes this request to: the body's (`orq.identity`,
        or top-level `identity` on the Responses API), else `X-ORQ-IDENTITY-ID` as ``{"id"}``."""
        return attributed_identity(self.path, self.headers, self._json_or_none())

    @property
    def thread(self) -> Any:
        """The thread in the body (`orq.thread`, or top-level `thread` on Responses), or None."""
        return attributed_thread(self.path, self._json_or_none())

    @property
    def continues_trace(self) -> bool:
        """Whether the router would continue the caller's trace (`traceparent` + `orq=1`)."""
        return continues_trace(self.headers)

    def _json_or_none(self) -> Any:
        try:
            return self.json
        except ValueError:
            return None


@dataclass(frozen=True)
class RawReply:
    """A scripted reply sent exactly as given: for replaying recorded responses byte for byte.

    ``RawReply.event_stream([chunk, ...])`` builds a server-sent event body from JSON chunks.
    """

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def event_stream(cls, events: Iterable[Mapping[str, Any] | str], done: bool = True) -> RawReply:
        """``data: <event>`` lines (JSON for mappings), then ``data: [DONE]`` if `done`."""
        lines = [
            f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n"
            for event in events
        ]
        if done:
            lines.append("data: [DONE]\n\n")
        return cls("".join(lines), content_type="text/event-stream")

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


ScriptedReply = MessageReply | RawReply
