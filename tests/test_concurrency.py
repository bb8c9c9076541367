"""Hundreds of identities at once: no cross-talk between request bodies and spans."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import openai
from conftest import Telemetry

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

TASKS = 200
THREAD_CALLS = 100


def _user_of(body_or_message: str) -> str:
    return body_or_message.rsplit(" ", 1)[-1]


def assert_no_cross_talk(telemetry: Telemetry, server: LocalOpenAIServer, expected: int) -> None:
    # Each request names its user in the message; the injected identity must match it.
    requests = [request.json for request in server.requests]
    assert len(requests) == expected
    for body in requests:
        assert body["orq"]["identity"]["id"] == _user_of(body["messages"][0]["content"])
    spans = telemetry.spans()
    assert len(spans) == expected
    users = {str((span.attributes or {})["orq.identity.id"]) for span in spans}
    assert len(users) == expected


async def test_asyncio_tasks_each_carry_their_own_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, async_orq_client: openai.AsyncOpenAI
) -> None:
    async def ask(user: str) -> None:
        with use_identity(id=user, tags=[user]):
            await asyncio.sleep(0)
            await async_orq_client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello from {user}"}]
            )

    await asyncio.gather(*(ask(f"task-user-{number}") for number in range(TASKS)))
    assert_no_cross_talk(telemetry, server, TASKS)


def test_thread_pool_calls_each_carry_their_own_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    def ask(user: str) -> None:
        with use_identity(id=user):
            orq_client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello from {user}"}]
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(ask, f"thread-user-{n}") for n in range(THREAD_CALLS)]
        for future in futures:
            future.result(timeout=60)
    assert_no_cross_talk(telemetry, server, THREAD_CALLS)


def test_identity_set_by_caller_follows_work_into_a_copied_context(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    def ask(message: str) -> None:
        orq_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": message}]
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for number in range(20):
            user = f"submitter-{number}"
            with use_identity(id=user):
                context = contextvars.copy_context()
            futures.append(pool.submit(context.run, ask, f"hello from {user}"))
        for future in futures:
            future.result(timeout=60)
    assert_no_cross_talk(telemetry, server, 20)
