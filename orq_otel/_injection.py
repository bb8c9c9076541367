"""The request changes made for orq hosts: the identity payload and a request for usage.

Caller dicts are never mutated: each change builds new mappings around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orq_otel._identity import Identity


def with_identity(kwargs: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
    """Keyword arguments whose `extra_body` carries `orq.identity`.

    The caller's `extra_body["orq"]` keys win, and a caller-given `orq.identity` wins whole.
    """
    extra_body = kwargs.get("extra_body")
    extra_body = extra_body if isinstance(extra_body, Mapping) else {}
    caller_orq = extra_body.get("orq")
    if isinstance(caller_orq, Mapping):
        if "identity" in caller_orq:
            return dict(kwargs)
        orq = {"identity": identity.payload, **caller_orq}
    else:
        orq = {"identity": identity.payload}
    return {**kwargs, "extra_body": {**extra_body, "orq": orq}}


def asks_for_usage(kwargs: Mapping[str, Any]) -> bool:
    options = kwargs.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))


def with_usage_requested(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments whose stream ends with a usage chunk (`stream_options.include_usage`)."""
    options = kwargs.get("stream_options")
    options = options if isinstance(options, Mapping) else {}
    return {**kwargs, "stream_options": {**options, "include_usage": True}}


# The header openai's with_raw_response / with_streaming_response views add to a call.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


def reads_raw_body(kwargs: Mapping[str, Any]) -> bool:
    """Whether the caller gets the raw HTTP body, where a chunk we hide would still show."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and _RAW_RESPONSE_HEADER in headers
