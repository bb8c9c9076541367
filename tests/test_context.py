"""Identity in context: scoped to blocks, tasks and copied contexts."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage, context
from pydantic import ValidationError

from orq_otel import Identity, get_identity, set_identity, use_identity


def current_id() -> str | None:
    identity = get_identity()
    return identity.id if identity else None


def test_no_identity_outside_any_block() -> None:
    assert get_identity() is None


def test_block_makes_identity_current_and_restores_after() -> None:
    with use_identity(id="user-1", display_name="Ada") as identity:
        assert get_identity() == identity == Identity(id="user-1", display_name="Ada")
    assert get_identity() is None


def test_accepts_identity_object_mapping_and_keywords() -> None:
    with use_identity(Identity(id="a")):
        assert current_id() == "a"
    with use_identity({"id": "b", "tags": ["t"]}):
        assert get_identity() == Identity(id="b", tags=["t"])
    with use_identity(id="c"):
        assert current_id() == "c"


def test_keyword_fields_override_given_identity() -> None:
    with use_identity(Identity(id="a", display_name="Old"), display_name="New") as identity:
        assert identity == Identity(id="a", display_name="New")


def test_nested_block_restores_outer_identity() -> None:
    with use_identity(id="outer", display_name="Outer"):
        with use_identity(id="inner"):
            assert get_identity() == Identity(id="inner")
            # The inner identity must not inherit the outer one's fields through baggage.
            assert baggage.get_baggage("orq.identity.display_name") is None
        assert get_identity() == Identity(id="outer", display_name="Outer")


def test_block_that_raises_restores_identity_and_propagates_error() -> None:
    with use_identity(id="outer"):
        with pytest.raises(KeyError, match="boom"), use_identity(id="inner"):
            raise KeyError("boom")
        assert current_id() == "outer"
    assert get_identity() is None


def test_invalid_identity_raises_before_anything_is_set() -> None:
    with use_identity(id="outer"):
        before = context.get_current()
        with pytest.raises(ValidationError, match="tags"), use_identity(id="x", tags=["t"] * 11):
            pass  # pragma: no cover - never entered
        assert context.get_current() is before
        assert current_id() == "outer"


def test_set_identity_returns_context_for_attach() -> None:
    ctx = set_identity({"id": "functional"})
    assert get_identity() is None
    assert get_identity(ctx) == Identity(id="functional")
    token = context.attach(ctx)
    try:
        assert current_id() == "functional"
    finally:
        context.detach(token)
    assert get_identity() is None


def test_set_identity_rejects_invalid_input() -> None:
    with pytest.raises(ValidationError, match="id"):
        set_identity({"id": ""})


def test_identity_is_whole_in_process_but_only_propagated_fields_in_baggage() -> None:
    with use_identity(id="u", email="ada@example.com", logo_url="https://x.example/a.png"):
        assert get_identity() == Identity(
            id="u", email="ada@example.com", logo_url="https://x.example/a.png"
        )
        assert set(baggage.get_all()) == {"orq.identity.id"}


async def test_each_asyncio_task_sees_only_its_own_identity() -> None:
    seen: dict[str, list[str | None]] = {}

    async def work(user: str) -> None:
        with use_identity(id=user):
            observed = []
            for _ in range(5):
                await asyncio.sleep(0)  # interleave with the other tasks
                observed.append(current_id())
            seen[user] = observed

    await asyncio.gather(*(work(f"user-{i}") for i in range(50)))
    assert all(observed == [user] * 5 for user, observed in seen.items())
    assert len(seen) == 50
    assert get_identity() is None


async def test_task_inherits_identity_current_when_it_was_created() -> None:
    with use_identity(id="parent"):
        task = asyncio.create_task(asyncio.sleep(0, result=None))
        child = asyncio.create_task(_current_id_after_yield())
    await task
    assert await child == "parent"


async def _current_id_after_yield() -> str | None:
    await asyncio.sleep(0)
    return current_id()


def test_copied_context_keeps_its_identity_apart() -> None:
    with use_identity(id="main"):
        copied = contextvars.copy_context()

    def change_inside() -> str | None:
        with use_identity(id="other"):
            pass
        return current_id()

    assert copied.run(change_inside) == "main"
    assert get_identity() is None


def test_threads_see_identity_only_through_a_copied_context() -> None:
    with use_identity(id="caller"), ThreadPoolExecutor(2) as pool:
        plain = pool.submit(current_id).result()
        copied = pool.submit(contextvars.copy_context().run, current_id).result()
    assert plain is None
    assert copied == "caller"
