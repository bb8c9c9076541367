"""What the orq router makes of a request, for the local server (`orq_otel.testing`).

So that tests of an application see what the router would: which identity and thread a
request is attributed to, whether it continues the caller's trace, and the errors the
router answers for fields it does not take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ORQ_HOST_SUFFIX = "orq.ai"
IDENTITY_HEADER = "x-orq-identity-id"


def is_orq_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == ORQ_HOST_SUFFIX or host.endswith("." + ORQ_HOST_SUFFIX)


def is_responses(path: str) -> bool:
    return path.endswith("/responses")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _body_field(path: str, body: Any, field: str) -> Any:
    if not isinstance(body, Mapping):
        return None
    if is_responses(path):
        return body.get(field)
    orq = body.get("orq")
    return orq.get(field) if isinstance(orq, Mapping) else None


def attributed_identity(path: str, headers: Mapping[str, str], body: Any) -> Any:
    """The router's choice: the body's identity, else `X-ORQ-IDENTITY-ID` (as `{"id": ...}`)."""
    in_body = _body_field(path, body, "identity")
    if in_body is not None:
        return in_body
    header = header_value(headers, IDENTITY_HEADER)
    return {"id": header} if header else None


def attributed_thread(path: str, body: Any) -> Any:
    return _body_field(path, body, "thread")


def continues_trace(headers: Mapping[str, str]) -> bool:
    """Whether the router would continue the caller's trace: `traceparent` and `orq=1`."""
    tracestate = header_value(headers, "tracestate") or ""
    members = {member.strip() for member in tracestate.split(",")}
    return bool(header_value(headers, "traceparent")) and "orq=1" in members


def router_error(path: str, body: Any) -> str | None:
    """The message of the 400 the router answers for fields it refuses, or None."""
    if not isinstance(body, Mapping):
        return None
    if is_responses(path) and "orq" in body:
        return "Unrecognized key 'orq': the Responses API takes top-level identity and thread"
    for field in ("identity", "thread"):
        value = _body_field(path, body, field)
        if value is not None and not (isinstance(value, Mapping) and value.get("id")):
            return f"{field} must be an object with an id"
    if is_responses(path):
        identity = body.get("identity")
        if isinstance(identity, Mapping) and "logo_url" in identity:
            return "Unrecognized key 'logo_url' in identity"
    return None
