"""One command: a gateway and a worker service, a few users, identity across the hop.

    python examples/distributed/main.py

Starts the worker and the gateway (two processes, real HTTP on loopback) and, unless
ORQ_API_KEY is set, a local OpenAI-compatible router; sends a question for each user
through the gateway; prints what came back and where the traces went. Traces go to
OTEL_EXPORTER_OTLP_ENDPOINT when set (e.g. the collector of examples/docker-compose.yaml),
else to orq.ai when ORQ_API_KEY is set, else to each service's console log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from orq_otel.testing import LocalOpenAIServer

HERE = Path(__file__).resolve().parent
ORQ_ROUTER = "https://api.orq.ai/v3/router"
USERS = {"token-ada": "Ada", "token-alan": "Alan", "token-grace": "Grace"}
QUESTION = "How can I upgrade my account?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a service exited early (code {process.returncode}); see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port} within {seconds} s")


def ask(gateway_port: int, token: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway_port}/ask",
        data=json.dumps({"question": QUESTION}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.load(response))


def destination() -> str:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return f"OTLP at {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}"
    if os.environ.get("ORQ_API_KEY"):
        return "orq.ai (https://api.orq.ai/v2/otel)"
    return "the console"


def main() -> None:
    logs = Path(tempfile.mkdtemp(prefix="orq-otel-distributed-"))
    gateway_port, worker_port = free_port(), free_port()
    env = {**os.environ, "GATEWAY_PORT": str(gateway_port), "WORKER_PORT": str(worker_port)}
    env["WORKER_URL"] = f"http://127.0.0.1:{worker_port}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    with ExitStack() as stack:
        if os.environ.get("ORQ_API_KEY"):
            env["ROUTER_URL"] = ORQ_ROUTER
            router = None
        else:
            router = stack.enter_context(LocalOpenAIServer())
            env.update(ROUTER_URL="http://api.orq.ai/v3/router", ROUTER_PROXY=router.address)
        processes = {}
        for name in ("worker", "gateway"):
            log = stack.enter_context((logs / f"{name}.log").open("wb"))
            processes[name] = subprocess.Popen(  # noqa: S603 - our own example scripts
                [sys.executable, str(HERE / f"{name}.py")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            wait_for_port(worker_port, processes["worker"])
            wait_for_port(gateway_port, processes["gateway"])
            print(f"gateway on :{gateway_port} -> worker on :{worker_port} -> {env['ROUTER_URL']}")
            for token, name in USERS.items():
                reply = ask(gateway_port, token)
                tokens = f"{reply['input_tokens']} in / {reply['output_tokens']} out"
                print(f"  {name:<6} {tokens:<14} {str(reply['answer'])[:48]}")
            if router is not None:
                seen = [request.json["orq"]["identity"]["id"] for request in router.requests]
                print(f"router received orq.identity for: {', '.join(seen)}")
        finally:
            for process in processes.values():
                process.terminate()  # uvicorn shuts down cleanly; setup()'s handle flushes
            for process in processes.values():
                process.wait(timeout=30)
    print(f"traces went to {destination()}; service logs: {logs}")
    if destination() == "the console":
        for name in ("gateway", "worker"):
            text = (logs / f"{name}.log").read_text()
            spans = text.count('"trace_id"')
            with_identity = text.count('"orq.identity.id"')
            log_path = logs / f"{name}.log"
            print(f"  {name}: {spans} spans, {with_identity} with orq.identity.id  ({log_path})")


if __name__ == "__main__":
    main()
