"""Helpers for integration tests: servers on loopback ports, bounded waiting."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import uvicorn
from starlette.types import ASGIApp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "distributed"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Run an ASGI app on a loopback port in a background thread; yield its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def wait_until(check: object, seconds: float, what: str) -> None:
    """Poll `check()` (bounded) until it returns truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class _AnswerOncePerConnection(http.server.BaseHTTPRequestHandler):
    """Answers the first request on a connection; ends the connection on the second."""

    protocol_version = "HTTP/1.1"  # keeps the connection open after an answer
    timeout = 30  # bounded: a silent client cannot hold a thread

    def handle(self) -> None:
        self.handle_one_request()
        if not self.close_connection:
            # As a server does when its keep-alive timeout ends just as a request arrives:
            # the next request's first line is read, and the connection closes unanswered.
            self.rfile.readline()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(IdleClosingServer.REPLY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts on replies, not on a request log."""


class IdleClosingServer(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 server that closes a kept-alive connection when it is reused.

    A server closes an idle connection when its keep-alive timeout ends (uvicorn's and
    Node's after 5 s), and a client that sends on it at that moment gets the connection
    closed with no answer ("socket hang up"). Here that moment is every reuse, so a
    client that reuses connections fails every time, not once in a few hundred runs.
    """

    REPLY: ClassVar[dict[str, str]] = {"answer": "from the downstream"}

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AnswerOncePerConnection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> IdleClosingServer:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
