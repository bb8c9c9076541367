"""Identity resolution: complete an identity that arrived with little more than its id.

The `identity_resolver` option is a callable (sync, or async for async clients) taking an
id and returning an `Identity`, a mapping or None, typically a database or API lookup.
Results are cached with a TTL and a bounded size; concurrent misses for one id call the
resolver once; a resolver that raises or times out leaves the call going with the
identity it had, with one warning. Fields of the identity in effect win over resolved ones.

A slow resolver holds a call at most `timeout`, and at most once per id per retry window:
a timeout is cached like a failure (the lookup goes on, and its answer replaces that
entry when it comes). Lookups in flight are bounded: past the bound a miss goes on
without one. Each lookup runs in a daemon thread, so a hanging
resolver never holds up the interpreter's exit; after `fork()` (gunicorn's `--preload`,
Celery's pre-fork pool) the child forgets the parent's lookups, whose threads do not exist
there.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pydantic import ValidationError

from orq_otel._cache import LruCache
from orq_otel._identity.model import Identity
from orq_otel._identity.values import describe
from orq_otel._log import exception_once, warn_once

# A resolver that failed (or timed out) is asked again after at most this long.
FAILURE_TTL = 30.0
# Lookups started and not finished, across ids: a hanging resolver must not pile them up.
MAX_IN_FLIGHT = 64
_MERGED_CACHE_SIZE = 1024
# Caches alive in this process, made new in a forked child (see _after_fork_in_child).
_caches: weakref.WeakSet[IdentityResolverCache] = weakref.WeakSet()


class IdentityResolverCache:
    """The resolver behind a TTL cache with single-flight misses and a timeout."""

    def __init__(
        self,
        resolver: Callable[[str], Any],
        ttl: float,
        size: int,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._resolver = resolver
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._max_in_flight = max_in_flight
        # id -> (expiry, resolved identity or None); least recently used go first.
        self._entries: LruCache[str, tuple[float, Identity | None]] = LruCache(size)
        self._merged: LruCache[tuple[int, int], tuple[Identity, Identity, Identity]] = LruCache(
            _MERGED_CACHE_SIZE
        )
        self._reset_flights()
        _caches.add(self)

    def _reset_flights(self) -> None:
        """A lock and an empty flight table (at start, and anew in a forked child, where
        the parent's lookups will never finish)."""
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[Identity | None]] = {}

    # --- the two ways in -----------------------------------------------------------------

    def complete(self, identity: Identity) -> Identity:
        """The identity completed with resolved fields (blocking at most `timeout`)."""
        found, resolved = self._lookup(identity.id)
        if not found:
            future = self._start(identity.id, loop=None)
            if future is None:
                return identity
            try:
                resolved = future.result(timeout=self._timeout)
            except FutureTimeout:
                self._timed_out(identity.id)
                return identity
        return self._merge(identity, resolved)

    async def complete_async(self, identity: Identity) -> Identity:
        """`complete` for async clients: an async resolver runs on the caller's loop."""
        found, resolved = self._lookup(identity.id)
        if not found:
            future = self._start(identity.id, loop=asyncio.get_running_loop())
            if future is None:
                return identity
            try:
                # shield: a caller that gives up must not cancel the lookup for the others.
                resolved = await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(future)), self._timeout
                )
            except asyncio.TimeoutError:
                self._timed_out(identity.id)
                return identity
        return self._merge(identity, resolved)

    # --- cache ---------------------------------------------------------------------------

    def _lookup(self, identity_id: str) -> tuple[bool, Identity | None]:
        entry = self._entries.get(identity_id, touch=True)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def _store(self, identity_id: str, resolved: Identity | None, ttl: float) -> None:
        self._entries.put(identity_id, (self._clock() + ttl, resolved))

    def _timed_out(self, identity_id: str) -> None:
        """Cache the timeout like a failure, unless the answer came meanwhile."""
        with self._lock:
            if identity_id in self._in_flight:  # still going: its answer will replace this
                self._store(identity_id, None, min(self._ttl, FAILURE_TTL))
        self._warn_timeout()

    # --- single flight -------------------------------------------------------------------

    def _start(
        self, identity_id: str, loop: asyncio.AbstractEventLoop | None
    ) -> Future[Identity | None] | None:
        """The lookup in flight for this id, starting one if there is none; None when too
        many are in flight already (the call goes on without)."""
        with self._lock:
            future = self._in_flight.get(identity_id)
            if future is not None:
                return future
            if len(self._in_flight) < self._max_in_flight:
                future = self._in_flight[identity_id] = Future()
        if future is None:
            warn_once(
                "resolver-saturated",
                "identity_resolver has %s lookups in flight; calls go on without it",
                self._max_in_flight,
            )
            return None
        if loop is not None and inspect.iscoroutinefunction(self._resolver):
            loop.create_task(self._run_async(identity_id, future))
        else:
            # A daemon thread per lookup (at most max_in_flight of them): a resolver that
            # never returns must not keep the interpreter from exiting, as a pool would.
            threading.Thread(
                target=self._run, args=(identity_id, future), name="orq-otel-resolver", daemon=True
            ).start()
        return future

    def _run(self, identity_id: str, future: Future[Identity | None]) -> None:
        try:
            result = self._resolver(identity_id)
            if inspect.isawaitable(result):  # an async resolver called from sync code
                result = asyncio.run(_awaited(result))
        except Exception:  # noqa: BLE001 - the resolver is the user's code: log, go on
            self._finish(identity_id, future, None, failed=True)
        else:
            self._finish(identity_id, future, result, failed=False)

    async def _run_async(self, identity_id: str, future: Future[Identity | None]) -> None:
        try:
            result = await self._resolver(identity_id)
        except Exception:  # noqa: BLE001 - the resolver is the user's code: log, go on
            self._finish(identity_id, future, None, failed=True)
        else:
            self._finish(identity_id, future, result, failed=False)

    def _finish(
        self, identity_id: str, future: Future[Identity | None], result: Any, failed: bool
    ) -> None:
        if failed:
            exception_once("resolver-raised", "identity_resolver raised; calls go on without it")
            resolved = None
        else:
            resolved, failed = _as_identity(identity_id, result)
        with self._lock:
            ttl = min(self._ttl, FAILURE_TTL) if failed else self._ttl
            self._store(identity_id, resolved, ttl)
            if self._in_flight.get(identity_id) is future:
                del self._in_flight[identity_id]
        future.set_result(resolved)

    def _warn_timeout(self) -> None:
        warn_once(
            "resolver-timeout",
            "identity_resolver took longer than %s s; the call goes on without it",
            self._timeout,
        )

    # --- merging -------------------------------------------------------------------------

    def _merge(self, identity: Identity, resolved: Identity | None) -> Identity:
        if resolved is None:
            return identity
        key = (id(identity), id(resolved))
        cached = self._merged.get(key)
        if cached is not None and cached[0] is identity and cached[1] is resolved:
            return cached[2]
        try:
            merged = Identity.model_validate({**resolved.payload, **identity.payload})
        except ValidationError:  # e.g. metadata keys over the limit once combined
            warn_once("resolver-merge", "resolved identity fields could not be merged; unused")
            merged = identity
        self._merged.put(key, (identity, resolved, merged))
        return merged


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _as_identity(identity_id: str, result: Any) -> tuple[Identity | None, bool]:
    """(identity, failed) from what the resolver returned."""
    if result is None or isinstance(result, Identity):
        return result, False
    if isinstance(result, Mapping):
        try:
            return Identity.model_validate({**result, "id": identity_id}), False
        except ValidationError as error:
            warn_once(  # the fields and rules only: values are personal data
                "resolver-invalid",
                "identity_resolver returned an invalid identity: %s",
                describe(error),
            )
            return None, True
    warn_once(
        "resolver-type",
        "identity_resolver must return an Identity, a mapping or None, not %s",
        type(result).__name__,
    )
    return None, True


def _after_fork_in_child() -> None:
    # The parent's lookup threads do not exist in the child, and their lookups will never
    # finish there: each cache forgets them.
    for cache in list(_caches):
        cache._reset_flights()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
