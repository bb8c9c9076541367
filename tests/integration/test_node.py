"""Identity across a hop to and from a Node.js service using the real OpenTelemetry JS SDK.

`examples/node/service.js` reads and writes the wire format with `orq-identity.js`,
written from README alone; `@opentelemetry/instrumentation-http` and the JS
W3CBaggagePropagator carry the header. Both directions, tricky values, signed and not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
import worker  # examples/distributed: a Python service that calls the LLM
from conftest import ORQ_BASE_URL, Telemetry
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
from servers import ROOT, serve_in_thread

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

NODE_EXAMPLE = ROOT / "examples" / "node"
SECRET = "node-hop-shared-secret-0123456789"
OTHER_SECRET = "some-other-services-secret-012345"

TRICKY: list[dict[str, Any]] = [
    {
        "id": "Ada Lovelace",
        "display_name": " Ada + Bob % ",
        "tags": ["a,b", "c;d=e", '"quoted"', "😀", "x+y"],
        "metadata": {"city": "Zürich", "note": "100% + more", "nested": {"k": "v w", "n": 1}},
    },
    {"id": "user+1@example.com", "display_name": "Grace Hopper"},
    {"id": "ü-用户-%41", "tags": ["=;,"]},
    {"id": "plain-id_1.2~3", "metadata": {"plan": "pro"}},
]
IDS = [identity["id"] for identity in TRICKY]


def _node_ready() -> str | None:
    """None when the example can run; installs its locked npm packages on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    if not (NODE_EXAMPLE / "node_modules").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S607
            cwd=NODE_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            return f"npm ci failed in examples/node: {installed.stderr[-500:]}"
    return None


NODE_PROBLEM = _node_ready()
pytestmark = pytest.mark.skipif(NODE_PROBLEM is not None, reason=str(NODE_PROBLEM))


@contextmanager
def node_service(secret: str | None = None, next_url: str | None = None) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ORQ_"))}
    env["PORT"] = "0"
    if secret:
        env["ORQ_OTEL_IDENTITY_SECRET"] = secret
    if next_url:
        env["NEXT_URL"] = next_url
    process = subprocess.Popen(
        ["node", "service.js"],  # noqa: S607 - node from PATH, checked above
        cwd=NODE_EXAMPLE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "listening on <port>"; blocks until it starts
        if not line.startswith("listening on "):
            process.kill()
            raise AssertionError(f"node service did not start: {line}{process.stderr.read()}")  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{line.split()[-1]}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module", autouse=True)
def outgoing_http_instrumented() -> Iterator[None]:
    instrumentor = HTTPX2ClientInstrumentor()
    instrumentor.instrument()
    yield
    instrumentor.uninstrument()


def whoami(url: str) -> dict[str, Any]:
    with httpx2.Client(timeout=30) as client:
        reply = client.post(f"{url}/whoami", json={})
    assert reply.status_code == 200
    return dict(reply.json())


def propagated(identity: dict[str, Any]) -> dict[str, Any]:
    """What travels by default: id, display_name, tags, metadata."""
    keys = ("id", "display_name", "tags", "metadata")
    return {key: identity[key] for key in keys if key in identity}


# --- Python -> Node -------------------------------------------------------------------


@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
def test_python_identity_arrives_unchanged_in_node(
    telemetry: Telemetry, identity: dict[str, Any]
) -> None:
    with node_service() as url, use_identity(identity):
        seen = whoami(url)
    assert seen["identity"] == propagated(identity)
    assert seen["rejected"] is None


@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
def test_python_signed_identity_verifies_in_node(
    telemetry: Telemetry, identity: dict[str, Any]
) -> None:
    telemetry.instrument(identity_secret=SECRET)
    with node_service(secret=SECRET) as url, use_identity(identity):
        seen = whoami(url)
    assert seen["identity"] == propagated(identity)
    assert seen["rejected"] is None
    assert "orq.identity.sig=v2." in seen["baggage"]


def test_node_rejects_a_python_identity_signed_with_another_secret(telemetry: Telemetry) -> None:
    telemetry.instrument(identity_secret=OTHER_SECRET)
    with node_service(secret=SECRET) as url, use_identity(TRICKY[0]):
        seen = whoami(url)
    assert seen["identity"] is None
    assert seen["rejected"] == "bad_signature"


# --- Node -> Python -------------------------------------------------------------------


@pytest.fixture
def python_worker(telemetry: Telemetry, server: LocalOpenAIServer) -> Iterator[str]:
    with serve_in_thread(worker.create_app(server.async_client(ORQ_BASE_URL))) as url:
        yield url


def relay(node_url: str, identity: dict[str, Any]) -> dict[str, Any]:
    body = {"identity": identity, "path": "/llm", "body": {"question": "hello there"}}
    with httpx2.Client(timeout=30) as client:
        reply = client.post(f"{node_url}/relay", content=json.dumps(body))
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def llm_identity(telemetry: Telemetry) -> Any:
    spans = [s for s in telemetry.spans() if s.name.startswith("chat ")]
    return (spans[-1].attributes or {}).get("orq.identity.id") if spans else None


@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
def test_node_identity_reaches_the_router_through_python_unchanged(
    telemetry: Telemetry, server: LocalOpenAIServer, python_worker: str, identity: dict[str, Any]
) -> None:
    with node_service(next_url=python_worker) as node:
        result = relay(node, identity)
    assert result["status"] == 200
    assert server.requests[-1].json["orq"]["identity"] == identity
    assert llm_identity(telemetry) == identity["id"]


@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
def test_node_signed_identity_is_trusted_by_python(
    telemetry: Telemetry, server: LocalOpenAIServer, python_worker: str, identity: dict[str, Any]
) -> None:
    telemetry.instrument(identity_secret=SECRET)
    with node_service(secret=SECRET, next_url=python_worker) as node:
        relay(node, identity)
    assert server.requests[-1].json["orq"]["identity"] == identity


def test_python_rejects_a_node_identity_signed_with_another_secret(
    telemetry: Telemetry, server: LocalOpenAIServer, python_worker: str
) -> None:
    telemetry.instrument(identity_secret=SECRET)
    with node_service(secret=OTHER_SECRET, next_url=python_worker) as node:
        relay(node, TRICKY[0])
    assert "orq" not in server.requests[-1].json
    assert llm_identity(telemetry) is None


def test_node_example_passes_its_own_test_vectors() -> None:
    result = subprocess.run(
        ["npm", "test", "--silent"],  # noqa: S607 - npm from PATH, beside node
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
