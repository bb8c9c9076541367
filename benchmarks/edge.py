"""What `DropIncomingIdentity` costs a request, on the headers an attacker would send.

Run on demand (not part of the tests): ``python benchmarks/edge.py``. Each scenario is an
ASGI scope whose headers are hostile (every baggage entry a spelling of one of our keys,
so that nothing is skipped cheaply), sent through the middleware to an application that
does nothing; the time is wall clock and this process's CPU time per request (CPU time
is what a loaded machine distorts least), the mean over many requests, best of a few
rounds, and the worst single request seen.

The first scenarios are at the W3C limits (8,192 bytes of `baggage`, 180 list-members,
180 Jaeger / OT Trace headers): the edge's goal is under 1 ms a request for any of them.
The last ones are far over the limits, to show that the cost stays linear and small.

To time another version of orq_otel (the previous commit, say), put it first on the path:
``git archive <commit> | tar -x -C /tmp/old && PYTHONPATH=/tmp/old python benchmarks/edge.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from orq_otel import DropIncomingIdentity

ROUNDS = 5
LIMIT_BYTES = 8192
LIMIT_MEMBERS = 180
Headers = list[tuple[bytes, bytes]]


def _members_to(size: int, count: int, member: Callable[[int], str]) -> bytes:
    """`count` members (or as many as fit in `size` bytes), made by `member(i)`."""
    members: list[str] = []
    used = 0
    for index in range(count):
        text = member(index)
        if used + len(text) + 1 > size:
            break
        members.append(text)
        used += len(text) + 1
    return ",".join(members).encode()


def _encoded_key(index: int) -> str:
    # Every character percent-encoded: each reading of the key decodes it in full.
    return "".join(f"%{ord(c):02X}" for c in "orq.identity.id") + f"{index}=v"


def scenarios() -> dict[str, tuple[Headers, bool]]:
    """name -> (headers, at the W3C limits)."""
    big_key = "%20" * ((LIMIT_BYTES - 20) // 3) + "orq.identity.id=victim"
    many = ",".join(f"orq.identity.id{index}=v" for index in range(10_000)).encode()
    return {
        "180 encoded members, 8 KB": (
            [(b"baggage", _members_to(LIMIT_BYTES, LIMIT_MEMBERS, _encoded_key))],
            True,
        ),
        "one member of 8 KB": ([(b"baggage", big_key[:LIMIT_BYTES].encode())], True),
        "180 uberctx- headers": (
            [
                (f"uberctx-orquberctx-.identity.id{index}".encode(), b"victim")
                for index in range(LIMIT_MEMBERS)
            ],
            True,
        ),
        "180 ot-baggage- headers, 40 baggage headers": (
            [(f"ot-baggage-orq.thread.id{i}".encode(), b"t") for i in range(LIMIT_MEMBERS)]
            + [(b"baggage", b"orq.identity.id=v%3B" + b"x" * 180)] * 40,
            True,
        ),
        "60 KB baggage": ([(b"baggage", many[: 60 * 1024])], False),
        "1 MB baggage": ([(b"baggage", (many * 20)[: 1024 * 1024])], False),
        "10,000 uberctx- headers": (
            [(f"uberctx-orq.identity.id{index}".encode(), b"v") for index in range(10_000)],
            False,
        ),
    }


async def _app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    return None


def _one_request(edge: DropIncomingIdentity, headers: Headers) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one request through the edge."""
    scope = {"type": "http", "headers": headers}
    wall, cpu = time.perf_counter(), time.process_time()
    coroutine = edge(scope, None, None)  # type: ignore[arg-type]
    with contextlib.suppress(StopIteration):
        coroutine.send(None)  # nothing awaits: one step runs the whole request
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(headers: Headers, requests: int) -> tuple[float, float, float]:
    """(mean wall seconds a request, mean CPU seconds, each the best of the rounds; the
    worst single request's wall time)."""
    edge = DropIncomingIdentity(_app)
    walls, cpus, worst = [], [], 0.0
    for _ in range(ROUNDS):
        times = [_one_request(edge, headers) for _ in range(requests)]
        walls.append(sum(wall for wall, _ in times) / len(times))
        cpus.append(sum(cpu for _, cpu in times) / len(times))
        worst = max(worst, *(wall for wall, _ in times))
    return min(walls), min(cpus), worst


def main() -> None:
    asyncio.set_event_loop_policy(None)
    print(f"{'scenario':<46} {'wall ms':>9} {'CPU ms':>9} {'worst ms':>9}")
    worst_wall = worst_cpu = 0.0
    for name, (headers, at_limit) in scenarios().items():
        wall, cpu, worst = measure(headers, requests=200 if at_limit else 20)
        if at_limit:
            worst_wall, worst_cpu = max(worst_wall, wall), max(worst_cpu, cpu)
        marker = "" if at_limit else "  (over the limits)"
        print(f"{name:<46} {wall * 1e3:>9.3f} {cpu * 1e3:>9.3f} {worst * 1e3:>9.3f}{marker}")
    print(
        f"per request at the W3C limits, worst scenario: {worst_wall * 1e3:.3f} ms wall, "
        f"{worst_cpu * 1e3:.3f} ms CPU"
    )


if __name__ == "__main__":
    main()
