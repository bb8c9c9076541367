"""What both example services share: outgoing HTTP instrumentation and a clean shutdown."""

from __future__ import annotations

import importlib.util
import signal
import sys
from typing import Any

import uvicorn
from opentelemetry.instrumentation import httpx as httpx_instrumentation
from starlette.types import ASGIApp


def instrument_http_clients() -> None:
    """Client spans and W3C trace context + baggage on every outgoing request.

    openai 3.x sends through httpx2, openai 1.x through httpx: instrument whichever exists.
    """
    if importlib.util.find_spec("httpx2") is not None:
        httpx_instrumentation.HTTPX2ClientInstrumentor().instrument()
    if importlib.util.find_spec("httpx") is not None:
        httpx_instrumentation.HTTPXClientInstrumentor().instrument()


def serve(app: ASGIApp, port: int, telemetry: Any) -> None:
    """Run until SIGINT or SIGTERM, then flush the telemetry (setup()'s handle)."""
    # uvicorn re-raises the signal it caught once it has stopped; with this handler that
    # ends in SystemExit, so the `finally` below flushes the spans still in the batch.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        telemetry.shutdown()
