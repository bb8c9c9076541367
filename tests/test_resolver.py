"""identity_resolver: completes thin identities; cached, single-flight, failure-tolerant."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from conftest import Telemetry
from opentelemetry import context, propagate

from orq_otel import Identity, use_identity
from orq_otel._identity.resolver import FAILURE_TTL, IdentityResolverCache
from orq_otel.testing import LocalOpenAIServer

PROFILES: dict[str, dict[str, Any]] = {
    "user-ada": {"display_name": "Ada Lovelace", "email": "ada@example.com", "tags": ["pro"]},
    "user-alan": {"display_name": "Alan Turing", "metadata": {"plan": "free"}},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingResolver:
    """Looks ids up in PROFILES and counts calls per id."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, identity_id: str) -> dict[str, Any] | None:
        with self.lock:
            self.calls[identity_id] = self.calls.get(identity_id, 0) + 1
        return PROFILES.get(identity_id)


def cache(
    resolver: Callable[[str], Any], clock: FakeClock | None = None, **options: Any
) -> IdentityResolverCache:
    settings = {"ttl": 300.0, "size": 100, "timeout": 5.0, **options}
    return IdentityResolverCache(resolver, clock=clock or FakeClock(), **settings)


def test_resolved_fields_complete_the_identity() -> None:
    completed = cache(CountingResolver()).complete(Identity(id="user-ada"))
    assert completed == Identity(
        id="user-ada", display_name="Ada Lovelace", email="ada@example.com", tags=["pro"]
    )


def test_fields_of_the_identity_in_effect_win_over_resolved_ones() -> None:
    ours = Identity(id="user-ada", display_name="Ada (support view)", metadata={"ticket": "T-1"})
    completed = cache(CountingResolver()).complete(ours)
    assert completed.display_name == "Ada (support view)"
    assert completed.metadata == {"ticket": "T-1"}
    assert completed.email == "ada@example.com"


def test_unknown_id_keeps_the_identity_as_it_was() -> None:
    ours = Identity(id="user-nobody")
    assert cache(CountingResolver()).complete(ours) is ours


def test_hit_does_not_call_the_resolver_again() -> None:
    resolver = CountingResolver()
    resolving = cache(resolver)
    for _ in range(5):
        resolving.complete(Identity(id="user-ada"))
    assert resolver.calls == {"user-ada": 1}


def test_entry_expires_after_the_ttl() -> None:
    resolver, clock = CountingResolver(), FakeClock()
    resolving = cache(resolver, clock, ttl=300.0)
    resolving.complete(Identity(id="user-ada"))
    clock.now += 299
    resolving.complete(Identity(id="user-ada"))
    assert resolver.calls == {"user-ada": 1}
    clock.now += 2
    resolving.complete(Identity(id="user-ada"))
    assert resolver.calls == {"user-ada": 2}


def test_cache_is_bounded_least_recently_used_first() -> None:
    resolver = CountingResolver()
    resolving = cache(resolver, size=2)
    for identity_id in ("a", "b", "a", "c", "a", "b"):
        resolving.complete(Identity(id=identity_id))
    # "b" was the least recently used when "c" arrived: it had to be looked up again.
    assert resolver.calls == {"a": 1, "b": 2, "c": 1}


def test_concurrent_misses_call_the_resolver_once() -> None:
    release = threading.Event()
    resolver = CountingResolver()

    def slow(identity_id: str) -> dict[str, Any] | None:
        release.wait(10)
        return resolver(identity_id)

    resolving = cache(slow)
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(resolving.complete, Identity(id="user-ada")) for _ in range(32)]
        release.set()
        results = [future.result(timeout=10) for future in futures]
    assert resolver.calls == {"user-ada": 1}
    assert {result.display_name for result in results} == {"Ada Lovelace"}


def test_resolver_that_raises_leaves_the_identity_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def broken(identity_id: str) -> None:
        calls.append(identity_id)
        raise ConnectionError("profile database is down")

    clock = FakeClock()
    resolving = cache(broken, clock)
    ours = Identity(id="user-ada")
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        results = [resolving.complete(ours) for _ in range(3)]
    assert all(result is ours for result in results)
    assert calls == ["user-ada"]  # not asked again on every call
    assert len([r for r in caplog.records if "identity_resolver raised" in r.getMessage()]) == 1
    clock.now += FAILURE_TTL + 1
    resolving.complete(ours)
    assert calls == ["user-ada", "user-ada"]


def test_resolver_that_times_out_leaves_the_identity_and_fills_the_cache_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release, done = threading.Event(), threading.Event()

    def slow(identity_id: str) -> dict[str, Any] | None:
        release.wait(10)
        done.set()
        return PROFILES.get(identity_id)

    resolving = cache(slow, timeout=0.05)
    ours = Identity(id="user-ada")
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert resolving.complete(ours) is ours
    assert any("took longer than" in r.getMessage() for r in caplog.records)
    release.set()
    assert done.wait(10)
    for _ in range(100):  # the lookup finishes in the background; bounded wait for it
        if resolving.complete(ours).display_name == "Ada Lovelace":
            break
        threading.Event().wait(0.01)
    assert resolving.complete(ours).display_name == "Ada Lovelace"


def test_invalid_resolved_profile_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolving = cache(lambda identity_id: {"tags": [str(n) for n in range(11)]})
    ours = Identity(id="user-ada")
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        assert resolving.complete(ours) is ours
    assert any("invalid identity" in r.getMessage() for r in caplog.records)


async def test_async_resolver_concurrent_misses_await_one_lookup() -> None:
    calls: list[str] = []

    async def lookup(identity_id: str) -> Identity:
        calls.append(identity_id)
        await asyncio.sleep(0)
        return Identity(id=identity_id, display_name="Alan Turing")

    resolving = cache(lookup)
    results = await asyncio.gather(
        *(resolving.complete_async(Identity(id="user-alan")) for _ in range(50))
    )
    assert calls == ["user-alan"]
    assert {result.display_name for result in results} == {"Alan Turing"}


async def test_async_resolver_timeout_leaves_the_identity() -> None:
    never = asyncio.Event()

    async def stuck(identity_id: str) -> None:
        await never.wait()

    resolving = cache(stuck, timeout=0.05)
    ours = Identity(id="user-alan")
    assert await resolving.complete_async(ours) is ours
    never.set()


# --- through the instrumented client ------------------------------------------------


def test_instrumented_call_sends_and_records_the_resolved_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    resolver = CountingResolver()
    telemetry.instrument(identity_resolver=resolver)
    token = context.attach(propagate.extract({"baggage": "orq.identity.id=user-alan"}))
    try:
        orq_client.chat.completions.create(model="gpt-4o-mini", messages=[])
        orq_client.chat.completions.create(model="gpt-4o-mini", messages=[])
    finally:
        context.detach(token)
    assert server.requests[-1].json["orq"]["identity"] == {
        "id": "user-alan",
        "display_name": "Alan Turing",
        "metadata": {"plan": "free"},
    }
    attributes = dict(telemetry.spans()[-1].attributes or {})
    assert attributes["orq.identity.display_name"] == "Alan Turing"
    assert attributes["orq.identity.metadata.plan"] == "free"
    assert resolver.calls == {"user-alan": 1}


async def test_async_client_uses_an_async_resolver(
    telemetry: Telemetry, server: LocalOpenAIServer, async_orq_client: openai.AsyncOpenAI
) -> None:
    async def lookup(identity_id: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"display_name": f"Resolved {identity_id}"}

    telemetry.instrument(identity_resolver=lookup)
    with use_identity(id="user-9", tags=["local"]):
        await async_orq_client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert server.requests[-1].json["orq"]["identity"] == {
        "id": "user-9",
        "display_name": "Resolved user-9",
        "tags": ["local"],
    }


def test_resolver_is_not_an_environment_option(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_IDENTITY_RESOLVER", "mymodule.lookup")
    telemetry.instrument()  # no error: the variable is not read
    with pytest.raises(TypeError, match="callable"):
        telemetry.instrument(identity_resolver="mymodule.lookup")


# --- a resolver that hangs, and fork ---------------------------------------------------


class HangingResolver:
    """Blocks every lookup until released; counts the lookups started."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[str] = []

    def __call__(self, identity_id: str) -> dict[str, Any] | None:
        self.started.append(identity_id)
        self.release.wait(timeout=30)
        return PROFILES.get(identity_id)


def returns_without_waiting(work: Callable[[], Any]) -> Any:
    """Run `work` in a thread; it must finish while the resolver is still hanging."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the call waited for a hanging resolver"
    return results[0]


def test_a_timed_out_lookup_is_cached_like_a_failure_and_filled_in_later() -> None:
    resolver, clock = HangingResolver(), FakeClock()
    resolving = cache(resolver, clock, timeout=0.05)
    assert resolving.complete(Identity(id="user-ada")) == Identity(id="user-ada")  # waited once
    resolving._timeout = 3600.0  # from now on a wait would hang the test
    again = returns_without_waiting(lambda: resolving.complete(Identity(id="user-ada")))
    assert again == Identity(id="user-ada")
    assert resolver.started == ["user-ada"]  # no second lookup either
    resolver.release.set()  # the first lookup's answer replaces the cached timeout
    for lookup in [t for t in threading.enumerate() if t.name == "orq-otel-resolver"]:
        lookup.join(timeout=10)
    assert resolving.complete(Identity(id="user-ada")).display_name == "Ada Lovelace"


def test_after_the_retry_window_a_hanging_lookup_is_waited_for_again_not_restarted() -> None:
    resolver, clock = HangingResolver(), FakeClock()
    resolving = cache(resolver, clock, timeout=0.05)
    resolving.complete(Identity(id="user-ada"))
    clock.now += FAILURE_TTL + 1
    resolving.complete(Identity(id="user-ada"))  # waits its timeout once more
    assert resolver.started == ["user-ada"]
    resolver.release.set()


def test_lookups_in_flight_are_bounded() -> None:
    resolver = HangingResolver()
    resolving = cache(resolver, timeout=0.01, max_in_flight=3)
    for number in range(3):
        resolving.complete(Identity(id=f"user-{number}"))
    resolving._timeout = 3600.0
    beyond = returns_without_waiting(lambda: resolving.complete(Identity(id="user-new")))
    assert beyond == Identity(id="user-new")
    assert len(resolver.started) == 3
    resolver.release.set()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_resolves_with_a_pool_of_its_own() -> None:
    resolving = cache(CountingResolver(), timeout=10)
    resolving.complete(Identity(id="user-alan"))  # the parent's pool has threads now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, then leave at once
        try:
            completed = resolving.complete(Identity(id="user-ada"))
            os.write(write_end, (completed.display_name or "none").encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == "Ada Lovelace"


HANGING_APP = """
import threading
from orq_otel import OrqInstrumentor, use_identity
from orq_otel.testing import LocalOpenAIServer

never = threading.Event()
OrqInstrumentor().instrument(
    identity_resolver=lambda _: never.wait(), identity_resolver_timeout=0.1
)
with LocalOpenAIServer() as server, server.client() as client, use_identity(id="u"):
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
print("done", flush=True)
"""


def test_a_resolver_that_never_returns_does_not_keep_the_process_from_exiting() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HANGING_APP], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "done"
