"""What an orq host gets from us, and what a caller put in the body itself.

The orq router takes the identity and the thread in the body (`orq.identity`,
`orq.thread`; top-level `identity` and `thread` on the Responses API, whose schema has no
`orq`) and the identity's id in the `X-ORQ-IDENTITY-ID` header (orq's own apps send it;
the body wins at the router). Whatever the caller gave wins whole. Our additions are new
top-level keys built around the caller's values: nothing of the caller's is mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orq_otel._identity.model import Identity, Thread
from orq_otel._log import warn_once
from orq_otel._openai.request import OutgoingRequest

IDENTITY_HEADER = "X-ORQ-IDENTITY-ID"
_ABSENT = object()
_Model = TypeVar("_Model", bound=BaseModel)


def _caller_orq(body: Mapping[str, Any]) -> Mapping[str, Any]:
    orq = body.get("orq")
    return orq if isinstance(orq, Mapping) else {}


def names_nobody(request: OutgoingRequest) -> bool:
    """Whether the caller's body names no identity and no thread (the common case: cheap)."""
    body = request.body
    if "orq" in body:
        return False
    return not (request.endpoint.top_level_orq_fields and ("identity" in body or "thread" in body))


def _given(request: OutgoingRequest, field: str) -> Any:
    """The caller's value for `identity` / `thread`, wherever this endpoint takes it."""
    body = request.body
    if request.endpoint.top_level_orq_fields and field in body:
        return body[field]
    return _caller_orq(body).get(field, _ABSENT)


def _validated(raw: Any, model: type[_Model], field: str) -> tuple[bool, _Model | None]:
    if raw is _ABSENT:
        return False, None
    try:
        return True, model.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        warn_once(
            f"caller-{field}-invalid",
            "the %s given in a request body is invalid (%s); it is sent as given but not recorded",
            field,
            reasons,
        )
        return True, None


def caller_identity(request: OutgoingRequest) -> tuple[bool, Identity | None]:
    """(given, identity): whether the caller's body names the identity, and it if valid.

    A caller-given identity wins the body, so it is the one telemetry records. An invalid
    one is sent as the caller wrote it, recorded nowhere, and warned about once.
    """
    return _validated(_given(request, "identity"), Identity, "identity")


def caller_thread(request: OutgoingRequest) -> tuple[bool, Thread | None]:
    """(given, thread), as `caller_identity`."""
    return _validated(_given(request, "thread"), Thread, "thread")


def _identity_payload(identity: Identity, top_level: bool) -> Mapping[str, Any]:
    return identity.responses_payload if top_level else identity.payload  # once per identity


def body_additions(
    request: OutgoingRequest,
    identity: Identity | None,
    thread: Thread | None,
    *,
    ask_for_usage: bool,
) -> dict[str, Any]:
    """Top-level body keys to add for an orq host (`identity` and `thread` are ours to add,
    None when there is none or the caller gave one)."""
    additions: dict[str, Any] = {}
    top_level = request.endpoint.top_level_orq_fields
    ours: dict[str, Any] = {}
    if identity is not None:
        ours["identity"] = _identity_payload(identity, top_level)
    if thread is not None:
        ours["thread"] = thread.payload
    if top_level:
        additions.update(ours)
    elif ours:
        caller = _caller_orq(request.body)
        additions["orq"] = {**ours, **caller} if caller else ours  # the caller's keys win
    if ask_for_usage:
        options = request.body.get("stream_options")
        options = options if isinstance(options, Mapping) else {}
        additions["stream_options"] = {**options, "include_usage": True}
    return additions


def header_additions(request: OutgoingRequest, identity: Identity | None) -> dict[str, str]:
    """`X-ORQ-IDENTITY-ID` for the identity the body carries, unless the caller set it.

    HTTP header values are ASCII: an id with other characters travels in the body only.
    """
    value = identity.header_value if identity is not None else None
    if value is None or request.has_header(IDENTITY_HEADER):
        return {}
    return {IDENTITY_HEADER: value}


def asks_for_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))
