"""orq-otel: OpenTelemetry instrumentation that makes every LLM call carry who it was for.

Public names are loaded on first use, so that ``opentelemetry-instrument`` (which needs only
`OrqInstrumentor`) and ``import orq_otel`` stay cheap at process start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orq_otel._version import __version__

if TYPE_CHECKING:
    from orq_otel._identity.context import get_identity, set_identity, use_identity
    from orq_otel._identity.edge import DropIncomingIdentity
    from orq_otel._identity.model import Identity
    from orq_otel._identity.span_processor import IdentitySpanProcessor
    from orq_otel._identity.thread import get_thread, use_thread
    from orq_otel._openai.instrumentor import OrqInstrumentor
    from orq_otel._setup import SetupHandle, setup

# Public name -> the private module that defines it.
_EXPORTS = {
    "DropIncomingIdentity": "orq_otel._identity.edge",
    "Identity": "orq_otel._identity.model",
    "IdentitySpanProcessor": "orq_otel._identity.span_processor",
    "OrqInstrumentor": "orq_otel._openai.instrumentor",
    "SetupHandle": "orq_otel._setup",
    "get_identity": "orq_otel._identity.context",
    "get_thread": "orq_otel._identity.thread",
    "set_identity": "orq_otel._identity.context",
    "setup": "orq_otel._setup",
    "use_identity": "orq_otel._identity.context",
    "use_thread": "orq_otel._identity.thread",
}

__all__ = [
    "DropIncomingIdentity",
    "Identity",
    "IdentitySpanProcessor",
    "OrqInstrumentor",
    "SetupHandle",
    "__version__",
    "get_identity",
    "get_thread",
    "set_identity",
    "setup",
    "use_identity",
    "use_thread",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orq_otel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
