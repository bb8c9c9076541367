"""A local OpenAI-compatible server, to test apps (and orq_otel itself) offline.

```python
from orq_otel.testing import LocalOpenAIServer

with LocalOpenAIServer() as server:
    client = server.client()  # an openai.OpenAI pointed at the server
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    server.requests[-1].json  # the body the server received
```

It serves ``/chat/completions``, ``/completions``, ``/embeddings`` and ``/responses`` (under
any base path), as JSON or as server-sent events when ``stream`` is true. Like OpenAI, a
stream carries usage only when ``stream_options.include_usage`` asks for it. A model named
``error-<status>`` answers with that HTTP status and an OpenAI-style error body.

It also acts as a plain HTTP forward proxy, so a client whose base URL names another host
(``http://api.orq.ai/v3/router``) can talk to it: see `LocalOpenAIServer.client`. Nothing
leaves the machine.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orq_otel._local_replies import Reply

if TYPE_CHECKING:
    import openai

__all__ = ["LocalOpenAIServer", "RecordedRequest"]


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
        return json.loads(self.body) if self.body else None


_ROUTES = {
    "/chat/completions": ("chatcmpl", "chat", "chat_chunks"),
    "/completions": ("cmpl", "completion", "completion_chunks"),
    "/embeddings": ("emb", "embeddings", None),
    "/responses": ("resp", "response", "response_events"),
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and demos print what matters themselves."""

    def do_POST(self) -> None:
        target = urlsplit(self.path)  # absolute when the server is used as a proxy
        host = target.hostname or self.headers.get("Host", "").split(":")[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        recorded = RecordedRequest("POST", host, target.path, dict(self.headers.items()), body)
        self.server.record(recorded)
        route = next((r for suffix, r in _ROUTES.items() if target.path.endswith(suffix)), None)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            self._send_json(400, _error("request body is not JSON", "invalid_request_error"))
            return
        if route is None:
            self._send_json(404, _error(f"no route for {target.path}", "not_found"))
            return
        model = str(payload.get("model", ""))
        if model.startswith("error-") and model[6:].isdigit():
            self._send_json(int(model[6:]), _error(f"simulated {model[6:]}", "server_error"))
            return
        prefix, json_method, stream_method = route
        reply = self.server.reply_for(payload, prefix)
        if payload.get("stream") is True and stream_method is not None:
            self._send_events(getattr(reply, stream_method)(), with_event_names=prefix == "resp")
        else:
            self._send_json(200, getattr(reply, json_method)())

    def _send_json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_local")
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[Mapping[str, Any]], with_event_names: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            name = f"event: {event['type']}\n" if with_event_names else ""
            self._write_chunk(f"{name}data: {json.dumps(event)}\n\n".encode())
        if not with_event_names:
            self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the stdlib's 5 resets connections under concurrent load

    def __init__(self, address: tuple[str, int], cached_tokens: int, reasoning_tokens: int) -> None:
        super().__init__(address, _Handler)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = count(1)
        self._cached_tokens = cached_tokens
        self._reasoning_tokens = reasoning_tokens

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-stream (closing it early) is normal, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def reply_for(self, body: dict[str, Any], prefix: str) -> Reply:
        with self._lock:
            number = next(self._ids)
        return Reply(body, f"{prefix}-local-{number}", self._cached_tokens, self._reasoning_tokens)


class LocalOpenAIServer:
    """An OpenAI-compatible HTTP server on a loopback port, in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        self._server = _Server((host, port), cached_tokens, reasoning_tokens)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``http://host:port``, also usable as an HTTP proxy URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The base URL for an OpenAI client: ``http://host:port/v1``."""
        return self.address + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._server._lock:
            return list(self._server.requests)

    def clear(self) -> None:
        with self._server._lock:
            self._server.requests.clear()

    def start(self) -> LocalOpenAIServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def client(self, base_url: str | None = None, **options: Any) -> openai.OpenAI:
        """An `openai.OpenAI` whose requests reach this server.

        With a `base_url` naming another host (``http://api.orq.ai/v3/router``), the client
        keeps that base URL and reaches this server as its HTTP proxy.
        """
        import openai  # noqa: PLC0415 - an optional dependency of orq_otel

        return openai.OpenAI(**self._options(base_url, options, openai.DefaultHttpxClient))

    def async_client(self, base_url: str | None = None, **options: Any) -> openai.AsyncOpenAI:
        """An `openai.AsyncOpenAI` whose requests reach this server (see `client`)."""
        import openai  # noqa: PLC0415 - an optional dependency of orq_otel

        return openai.AsyncOpenAI(
            **self._options(base_url, options, openai.DefaultAsyncHttpxClient)
        )

    def _options(
        self, base_url: str | None, options: dict[str, Any], http_client_type: Any
    ) -> dict[str, Any]:
        options = {"api_key": "local-test-key", "max_retries": 0, **options}
        if base_url is None:
            return {**options, "base_url": self.url}
        # Another host's base URL: keep it, and reach this server as the HTTP proxy.
        return {
            **options,
            "base_url": base_url,
            "http_client": http_client_type(proxy=self.address),
        }
