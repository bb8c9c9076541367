"""Where the outgoing request being made in this context goes, for the egress guard.

Set by the guard's wrappers where an HTTP client starts a request, and by the openai
wrappers for the whole of an openai call; read when a propagator writes baggage.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

# An openai call: our baggage entries go to no host this way (the router gets the body).
LLM_CALL = "\x00openai"
# An openai call to an orq host that links the router's trace under ours (router_trace.py).
LLM_CALL_LINKED = "\x00openai-orq-linked"
LLM_CALLS = (LLM_CALL, LLM_CALL_LINKED)

destination: ContextVar[str | None] = ContextVar("orq_otel.destination", default=None)


def in_llm_call() -> bool:
    return destination.get() in LLM_CALLS


def toward(host: str) -> Token[str | None] | None:
    """Note the host a request goes to; an enclosing openai call keeps its mark."""
    if destination.get() in LLM_CALLS:
        return None
    return destination.set(host)


def back(token: Token[str | None] | None) -> None:
    if token is not None:
        destination.reset(token)
