"""Who and what a call is for: the identity and thread the caller put in the body, else
those in effect (in this process, or received in baggage and trusted).

A caller-given identity or thread wins the body at the orq router, so it is the one
telemetry records. An invalid one is sent as the caller wrote it, recorded nowhere, and
warned about once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

from opentelemetry.context import Context
from opentelemetry.metrics import Counter
from pydantic import BaseModel, ValidationError

from orq_otel._config import Settings
from orq_otel._identity.context import identity_in_effect
from orq_otel._identity.model import Identity, Thread
from orq_otel._identity.resolver import IdentityResolverCache
from orq_otel._identity.thread import thread_in_effect
from orq_otel._log import guarded, guarded_async, warn_once
from orq_otel._names import REJECTION_REASON
from orq_otel._openai.request import OutgoingRequest

_ABSENT = object()
_Model = TypeVar("_Model", bound=BaseModel)


class Subject(NamedTuple):
    """Who and what a call is for; a caller-given one is in the body already.

    A NamedTuple, as the other small records of the call path: a dataclass costs about a
    millisecond to define (on the first call) and a frozen one microseconds to make."""

    identity: Identity | None
    identity_given: bool
    thread: Thread | None
    thread_given: bool


NOBODY = Subject(None, False, None, False)  # also what a call gets if finding it fails


def _caller_orq(body: Mapping[str, Any]) -> Mapping[str, Any]:
    orq = body.get("orq")
    return orq if isinstance(orq, Mapping) else {}


def body_names_no_subject(request: OutgoingRequest) -> bool:
    """Whether the caller's body names no identity and no thread (the common case: cheap)."""
    payload = request.endpoint.payload
    if payload == "header_only":
        return True  # the body is no place for them: we would not read them there
    body = request.body
    if "orq" in body:
        return False
    return not (payload == "top_level" and ("identity" in body or "thread" in body))


def _given(request: OutgoingRequest, field: str) -> Any:
    """The caller's value for `identity` / `thread`, wherever this endpoint takes it."""
    if request.endpoint.payload == "header_only":
        return _ABSENT
    body = request.body
    if request.endpoint.payload == "top_level" and field in body:
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
    """(given, identity): whether the caller's body names the identity, and it if valid."""
    return _validated(_given(request, "identity"), Identity, "identity")


def caller_thread(request: OutgoingRequest) -> tuple[bool, Thread | None]:
    """(given, thread), as `caller_identity`."""
    return _validated(_given(request, "thread"), Thread, "thread")


class Subjects:
    """Finds each call's subject; made once per `instrument()`."""

    def __init__(self, settings: Settings, rejected: Counter) -> None:
        self._settings = settings
        self._rejected = rejected  # orq.identity.rejected
        self.resolver = (
            IdentityResolverCache(
                settings.identity_resolver,
                settings.identity_resolver_ttl,
                settings.identity_resolver_cache_size,
                settings.identity_resolver_timeout,
            )
            if settings.identity_resolver is not None
            else None
        )

    @guarded(NOBODY)
    def of(self, request: OutgoingRequest, current: Context) -> Subject:
        """The caller's identity and thread from the body, else those in effect in `current`."""
        if body_names_no_subject(request):
            identity = self._completed(self._trusted_identity(current))
            return Subject(identity, False, thread_in_effect(current, self._settings), False)
        identity_given, identity = caller_identity(request)
        if not identity_given:
            identity = self._completed(self._trusted_identity(current))
        return self._with_thread(request, current, identity, identity_given)

    @guarded_async(NOBODY)
    async def of_async(self, request: OutgoingRequest, current: Context) -> Subject:
        """`of()` for async clients, whose resolver may be a coroutine function."""
        identity_given, identity = caller_identity(request)
        if not identity_given:
            identity = self._trusted_identity(current)
            if identity is not None and self.resolver is not None:
                identity = await self.resolver.complete_async(identity)
        return self._with_thread(request, current, identity, identity_given)

    def _completed(self, identity: Identity | None) -> Identity | None:
        if identity is None or self.resolver is None:
            return identity
        return self.resolver.complete(identity)

    def _trusted_identity(self, current: Context) -> Identity | None:
        identity, rejection = identity_in_effect(current, self._settings)
        if rejection is not None:
            self._rejected.add(1, {REJECTION_REASON: rejection.value})
        return identity

    def _with_thread(
        self,
        request: OutgoingRequest,
        current: Context,
        identity: Identity | None,
        identity_given: bool,
    ) -> Subject:
        thread_given, thread = caller_thread(request)
        if not thread_given:
            thread = thread_in_effect(current, self._settings)
        return Subject(identity, identity_given, thread, thread_given)
