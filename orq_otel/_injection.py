"""The request changes made for orq hosts, and the identity a caller put in the body itself.

Changes are additions to the body's top level (openai merges them over the caller's body),
built from new mappings around the caller's: nothing of the caller's is mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from orq_otel._identity import Identity
from orq_otel._log import warn_once
from orq_otel._request import OutgoingRequest

_ABSENT = object()


def _caller_orq(body: Mapping[str, Any]) -> Mapping[str, Any]:
    orq = body.get("orq")
    return orq if isinstance(orq, Mapping) else {}


def caller_identity(request: OutgoingRequest) -> tuple[bool, Identity | None]:
    """(given, identity): whether the caller's body carries `orq.identity`, and it if valid.

    A caller-given identity wins the body, so it is the one telemetry records. An invalid
    one is sent as the caller wrote it, recorded nowhere, and warned about once.
    """
    raw = _caller_orq(request.body).get("identity", _ABSENT)
    if raw is _ABSENT:
        return False, None
    try:
        return True, Identity.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        warn_once(
            "caller-identity-invalid",
            "the orq.identity given in a request body is invalid (%s); it is sent as given "
            "but not recorded",
            reasons,
        )
        return True, None


def body_additions(
    request: OutgoingRequest, identity: Identity | None, *, ask_for_usage: bool
) -> dict[str, Any]:
    """Top-level body keys to add for an orq host: `orq.identity` and, for streams whose
    usage we collect, `stream_options.include_usage`.

    The caller's `orq` keys win, and a caller-given `orq.identity` wins whole.
    """
    additions: dict[str, Any] = {}
    if identity is not None:
        caller_orq = _caller_orq(request.body)
        if "identity" not in caller_orq:
            additions["orq"] = {"identity": identity.payload, **caller_orq}
    if ask_for_usage:
        options = request.body.get("stream_options")
        options = options if isinstance(options, Mapping) else {}
        additions["stream_options"] = {**options, "include_usage": True}
    return additions


def asks_for_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))
