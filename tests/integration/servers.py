"""Helpers for integration tests: servers on loopback ports, bounded waiting."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import h11
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


class _AnswerOncePerConnection(socketserver.BaseRequestHandler):
    """Answers the first request on a connection; ends the connection on the second."""

    def handle(self) -> None:
        self.request.settimeout(30)  # bounded: a silent client cannot hold a thread
        http = h11.Connection(h11.SERVER)
        answered = False
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = self.request.recv(65536)
                if not data:
                    return
                http.receive_data(data)
            elif isinstance(event, h11.Request) and answered:
                # As a server does when its keep-alive timeout ends just as a request
                # arrives: the connection closes with the request unanswered.
                return
            elif isinstance(event, h11.EndOfMessage):
                self.request.sendall(self._answer(http))
                http.start_next_cycle()
                answered = True
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _answer(self, http: h11.Connection) -> bytes:
        body = json.dumps(IdleClosingServer.REPLY).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        return (
            http.send(h11.Response(status_code=200, headers=headers))
            + http.send(h11.Data(data=body))
            + http.send(h11.EndOfMessage())
        )


class IdleClosingServer(socketserver.ThreadingTCPServer):
    """An HTTP/1.1 server that closes a kept-alive connection when it is reused.

    A server closes an idle connection when its keep-alive timeout ends (uvicorn's and
    Node's after 5 s), and a client that sends on it at that moment gets the connection
    closed with no answer ("socket hang up"). Here that moment is every reuse, so a
    client that reuses connections fails every time, not once in a few hundred runs.
    """

    REPLY: ClassVar[dict[str, str]] = {"answer": "from the downstream"}
    daemon_threads = True

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
