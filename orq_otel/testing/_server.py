"""The local OpenAI-compatible server itself: routes, the request handler, the server."""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from orq_otel.testing._exchange import RawReply, RecordedRequest, ScriptedReply
from orq_otel.testing._replies import DEFAULT_MESSAGE, MessageReply, Reply
from orq_otel.testing._responses import response, response_events
from orq_otel.testing._router import (
    is_orq_host,
    router_error,
)
from orq_otel.testing._transcriptions import form_fields, transcription, transcription_events

if TYPE_CHECKING:
    import openai


class _Route(NamedTuple):
    id_prefix: str
    body: Literal["json", "multipart"]  # how the request body is encoded
    as_json: Callable[[Reply], Any]
    as_events: Callable[[Reply], Any] | None  # server-sent events, if it streams
    event_names: bool = False  # an `event:` line before each event's data


# path suffix -> route
_ROUTES = {
    "/chat/completions": _Route("chatcmpl", "json", Reply.chat, Reply.chat_chunks),
    "/completions": _Route("cmpl", "json", Reply.completion, Reply.completion_chunks),
    "/embeddings": _Route("emb", "json", Reply.embeddings, None),
    "/responses": _Route("resp", "json", response, response_events, event_names=True),
    "/audio/transcriptions": _Route("tr", "multipart", transcription, transcription_events),
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK, about 40 ms per reply.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and demos print what matters themselves."""

    def _host(self) -> str:
        """The host the client addressed: the proxy target, or the Host header."""
        return urlsplit(self.path).hostname or self.headers.get("Host", "").split(":")[0]

    def _record(self) -> tuple[str, bytes]:
        """Record the request; its path and body."""
        target = urlsplit(self.path)  # absolute when the server is used as a proxy
        host = self._host()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        self.server.record(RecordedRequest(self.command, host, target.path, headers, body))
        return target.path, body

    def do_GET(self) -> None:
        """Recorded like any request (tests of outgoing headers use it); nothing is served."""
        path, _ = self._record()
        self._send_json(404, _error(f"no route for GET {path}", "not_found"))

    def _payload(self, route: _Route | None, body: bytes) -> Any:
        """The request body's fields, or None (answered with a 400) if it is not as expected."""
        if route is not None and route.body == "multipart":
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                return form_fields(content_type, body)
            kind = "a multipart form"
        else:
            try:
                return json.loads(body) if body else {}
            except ValueError:
                kind = "JSON"
        self._send_json(400, _error(f"request body is not {kind}", "invalid_request_error"))
        return None

    def do_POST(self) -> None:
        path, body = self._record()
        route = next((r for suffix, r in _ROUTES.items() if path.endswith(suffix)), None)
        payload = self._payload(route, body)
        if payload is None:
            return
        if route is None:
            self._send_json(404, _error(f"no route for {path}", "not_found"))
            return
        refused = router_error(path, payload) if is_orq_host(self._host()) else None
        if refused is not None:
            self._send_json(400, _error(refused, "invalid_request_error"))
            return
        model = str(payload.get("model", ""))
        if model.startswith("error-") and model[6:].isdigit():
            self._send_json(int(model[6:]), _error(f"simulated {model[6:]}", "server_error"))
            return
        scripted = self.server.next_scripted()
        if isinstance(scripted, RawReply):
            self._send_raw(scripted)
            return
        reply = self.server.reply_for(payload, route.id_prefix, scripted or DEFAULT_MESSAGE)
        if payload.get("stream") is True and route.as_events is not None:
            self._send_events(route.as_events(reply), with_event_names=route.event_names)
        else:
            self._send_json(200, route.as_json(reply))

    def _send_raw(self, reply: RawReply) -> None:
        data = reply.data
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

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
        self.scripted: deque[ScriptedReply] = deque()
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

    def next_scripted(self) -> ScriptedReply | None:
        with self._lock:
            return self.scripted.popleft() if self.scripted else None

    def reply_for(self, body: dict[str, Any], prefix: str, message: MessageReply) -> Reply:
        with self._lock:
            number = next(self._ids)
        response_id = f"{prefix}-local-{number}"
        return Reply(body, response_id, self._cached_tokens, self._reasoning_tokens, message)


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
        """Forget the requests received and any scripted replies not used yet."""
        with self._server._lock:
            self._server.requests.clear()
            self._server.scripted.clear()

    def script(self, *replies: ScriptedReply) -> None:
        """Answer the next requests with these replies, in order (after any already queued).

        A `MessageReply` is rendered for the endpoint called, as JSON or as a stream; a
        `RawReply` is sent exactly as given.
        """
        with self._server._lock:
            self._server.scripted.extend(replies)

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
