"""orq-otel: OpenTelemetry instrumentation that makes every LLM call carry who it was for."""

from orq_otel._context import get_identity, set_identity, use_identity
from orq_otel._edge import DropIncomingIdentity
from orq_otel._identity import Identity
from orq_otel._instrumentor import OrqInstrumentor
from orq_otel._setup import SetupHandle, setup
from orq_otel._span_processor import IdentitySpanProcessor
from orq_otel._version import __version__

__all__ = [
    "DropIncomingIdentity",
    "Identity",
    "IdentitySpanProcessor",
    "OrqInstrumentor",
    "SetupHandle",
    "__version__",
    "get_identity",
    "set_identity",
    "setup",
    "use_identity",
]
