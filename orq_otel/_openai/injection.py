"""What an orq host gets from us: the request changes of one call.

The orq router takes the identity and the thread in the body (`orq.identity`,
`orq.thread`; top-level `identity` and `thread` on the Responses API, whose schema has no
`orq`) and the identity's id in the `X-ORQ-IDENTITY-ID` header (orq's own apps send it;
the body wins at the router; a multipart endpoint gets the header only). Whatever the
caller gave wins whole. Our additions are new top-level keys built around the caller's
values: nothing of the caller's is mutated. Other hosts get nothing from us.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry.trace import Span

from orq_otel._identity.model import Identity, Thread
from orq_otel._openai.hosts import Route
from orq_otel._openai.request import OutgoingRequest
from orq_otel._openai.router_trace import trace_headers
from orq_otel._openai.sending import Additions
from orq_otel._openai.subject import Subject

IDENTITY_HEADER = "X-ORQ-IDENTITY-ID"
_NO_HEADERS: Mapping[str, str] = {}


def _identity_payload(identity: Identity, top_level: bool) -> Mapping[str, Any]:
    return identity.responses_payload if top_level else identity.payload  # once per identity


def body_additions(
    request: OutgoingRequest,
    identity: Identity | None,
    thread: Thread | None,
    *,
    ask_for_usage: bool,
) -> Mapping[str, Any]:
    """Top-level body keys to add for an orq host (`identity` and `thread` are ours to add,
    None when there is none or the caller gave one). The result is never changed after."""
    top_level = request.endpoint.payload == "top_level"
    caller_orq = None if top_level else request.body.get("orq")
    if identity is not None and not ask_for_usage and not isinstance(caller_orq, Mapping):
        return _identity_additions(identity, thread, top_level)  # the common case
    additions = _subject_additions(identity, thread, top_level)
    if isinstance(caller_orq, Mapping) and "orq" in additions:
        additions = {"orq": {**additions["orq"], **caller_orq}}  # the caller's win
    if ask_for_usage:
        options = request.body.get("stream_options")
        options = options if isinstance(options, Mapping) else {}
        additions = {**additions, "stream_options": {**options, "include_usage": True}}
    return additions


def _subject_additions(
    identity: Identity | None, thread: Thread | None, top_level: bool
) -> dict[str, Any]:
    ours: dict[str, Any] = {}
    if identity is not None:
        ours["identity"] = _identity_payload(identity, top_level)
    if thread is not None:
        ours["thread"] = thread.payload
    if top_level or not ours:
        return ours
    return {"orq": ours}


def _identity_additions(
    identity: Identity, thread: Thread | None, top_level: bool
) -> Mapping[str, Any]:
    """`_subject_additions`, kept on the identity for the last thread it was sent with:
    every call of a `use_identity` block (and of a conversation in it) shares one."""
    last = identity.derived.get("body_additions")
    if last is not None and last[0] is thread and last[1] == top_level:
        return last[2]  # type: ignore[no-any-return]
    additions = _subject_additions(identity, thread, top_level)
    identity.derived["body_additions"] = (thread, top_level, additions)
    return additions


def header_additions(identity: Identity | None) -> Mapping[str, str]:
    """`X-ORQ-IDENTITY-ID` for the identity the body carries (one mapping per identity);
    a header the caller set wins when the request is built (`sending.py`).

    HTTP header values are ASCII: an id with other characters travels in the body only.
    """
    if identity is None:
        return _NO_HEADERS
    headers = identity.derived.get("headers")
    if headers is None:
        value = identity.header_value
        headers = identity.derived["headers"] = {IDENTITY_HEADER: value} if value else {}
    return headers


def asks_for_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))


class RequestChanges(NamedTuple):
    """What one call adds to its request (`sending.py` adds it), and what that means later."""

    additions: Additions | None  # None: the request goes as the caller made it
    hides_usage: bool  # we asked for stream usage: the usage-only chunk is ours to hide
    links_router_trace: bool  # traceparent + `orq=1` go to the router (router_trace.py)


_UNCHANGED = RequestChanges(None, False, False)


def request_changes(
    request: OutgoingRequest, route: Route, subject: Subject, linked_span: Span | None
) -> RequestChanges:
    """Our additions for an orq host (`linked_span`: the span the router is to continue)."""
    if not route.takes_orq_payload:
        return _UNCHANGED
    body: Mapping[str, Any] = {}
    hides_usage = False
    if request.endpoint.body_takes_additions:
        hides_usage = request.stream and _asks_usage_for_the_span(request)
        body = _body_additions_for(request, subject, hides_usage)
    headers = header_additions(subject.identity)
    linked = linked_span is not None and not request.has_header("traceparent")
    if linked_span is not None and linked:
        headers = {**headers, **trace_headers(linked_span)}
    additions = Additions(body, headers) if body or headers else None
    return RequestChanges(additions, hides_usage, linked)


def _asks_usage_for_the_span(request: OutgoingRequest) -> bool:
    """Whether we ask for stream usage the caller did not ask for (and may hide it)."""
    return (
        request.endpoint.accepts_stream_usage
        and not asks_for_usage(request.body)
        and not request.reads_raw_body
    )


def _body_additions_for(
    request: OutgoingRequest, subject: Subject, ask_for_usage: bool
) -> Mapping[str, Any]:
    if request.endpoint.payload == "header_only":
        identity = thread = None
    else:  # ours to add unless the caller gave one
        identity = None if subject.identity_given else subject.identity
        thread = None if subject.thread_given else subject.thread
    return body_additions(request, identity, thread, ask_for_usage=ask_for_usage)
