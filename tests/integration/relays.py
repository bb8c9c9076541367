"""The Go and Java relays of examples/: built once into .otel-bin/, started on loopback.

Each relay forwards every request to the URL in its NEXT_URL and answers with the reply.
It prints `listening on <port>` once it serves (it binds port 0: no port race), and
exports its spans by OTLP/HTTP to the endpoint given, under its own service.name.
Builds are cached: a stamp (hash of the pinned inputs) says when to build again.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from servers import ROOT

OTEL_BIN = ROOT / ".otel-bin"
GO_SOURCE = ROOT / "examples" / "go"
JAVA_SOURCE = ROOT / "examples" / "java"
NODE_SOURCE = ROOT / "examples" / "node"
GO_RELAY = OTEL_BIN / "go-relay"
JAVA_RELAY = OTEL_BIN / "java-relay"
JAVA_AGENT = JAVA_RELAY / "opentelemetry-javaagent.jar"
BUILD_TIMEOUT = 900  # a cold Go build downloads and compiles the SDK on 2 shared cores
START_TIMEOUT = 180  # the JVM with the agent took 50 s to start on a loaded 2-core machine


def missing_tools() -> str | None:
    """Why the relays cannot be built here, or None."""
    absent = [tool for tool in ("go", "java", "javac", "mvn") if shutil.which(tool) is None]
    return f"not installed: {', '.join(absent)}" if absent else None


def _stamp(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _up_to_date(stamp_file: Path, stamp: str, *outputs: Path) -> bool:
    return all(output.exists() for output in outputs) and (
        stamp_file.is_file() and stamp_file.read_text() == stamp
    )


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def build_go_relay() -> Path:
    """.otel-bin/go-relay, built from examples/go when its go.mod, go.sum or code changed."""
    inputs = sorted([GO_SOURCE / "go.mod", GO_SOURCE / "go.sum", *GO_SOURCE.glob("*.go")])
    stamp, stamp_file = _stamp(inputs), OTEL_BIN / "go-relay.stamp"
    if not _up_to_date(stamp_file, stamp, GO_RELAY):
        OTEL_BIN.mkdir(exist_ok=True)
        # Its own module: no go.work may lift its pinned versions; go.sum must not change.
        env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
        _run(["go", "build", "-trimpath", "-o", str(GO_RELAY), "."], GO_SOURCE, env)
        stamp_file.write_text(stamp)
    return GO_RELAY


def build_java_relay() -> Path:
    """.otel-bin/java-relay/: the agent jar that pom.xml pins, and Relay.class."""
    inputs = [JAVA_SOURCE / "pom.xml", JAVA_SOURCE / "Relay.java"]
    stamp, stamp_file = _stamp(inputs), OTEL_BIN / "java-relay.stamp"
    if not _up_to_date(stamp_file, stamp, JAVA_AGENT, JAVA_RELAY / "Relay.class"):
        JAVA_RELAY.mkdir(parents=True, exist_ok=True)
        fetch = [
            "mvn",
            "-q",
            "-B",
            "-f",
            "pom.xml",
            "generate-resources",
            f"-Drelay.dir={JAVA_RELAY}",
        ]
        _run(fetch, JAVA_SOURCE)
        _run(["javac", "--release", "17", "-d", str(JAVA_RELAY), "Relay.java"], JAVA_SOURCE)
        stamp_file.write_text(stamp)
    return JAVA_RELAY


def service_env(service_name: str, next_url: str, otlp_endpoint: str | None) -> dict[str, str]:
    """A clean environment: no OTEL_*/ORQ_* of the test process leaks into a relay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ORQ_"))}
    env.update(
        NEXT_URL=next_url,
        OTEL_SERVICE_NAME=service_name,
        OTEL_PROPAGATORS="tracecontext,baggage",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="200",  # spans reach the backend soon after each request
    )
    if otlp_endpoint is None:
        env["OTEL_TRACES_EXPORTER"] = "none"
    else:
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        )
    return env


def _first_line(process: subprocess.Popen[str], seconds: float) -> str:
    """The first line the process prints, waiting at most `seconds`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            return ""
    return process.stdout.readline()


@contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path, what: str) -> Iterator[str]:
    """Start a relay, yield its loopback URL, and end it (it flushes its spans on SIGTERM).

    Its stderr goes to a file, not a pipe: the Java agent logs a stack trace per invalid
    baggage member, and a pipe nobody reads would fill up and stall the relay.
    """
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            line = _first_line(process, START_TIMEOUT)
            if not line.startswith("listening on "):
                process.kill()
                process.wait(timeout=20)
                log.seek(0)
                raise AssertionError(
                    f"{what} did not start within {START_TIMEOUT} s "
                    f"({time.monotonic() - started:.1f} s): {line!r} {log.read()[-2000:]}"
                )
            yield f"http://127.0.0.1:{line.split()[-1]}"
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def go_relay(next_url: str, otlp_endpoint: str | None = None) -> AbstractContextManager[str]:
    env = service_env("go-relay", next_url, otlp_endpoint)
    return running([str(build_go_relay())], env, GO_SOURCE, "the Go relay")


def java_relay(next_url: str, otlp_endpoint: str | None = None) -> AbstractContextManager[str]:
    relay_dir = build_java_relay()
    env = service_env("java-relay", next_url, otlp_endpoint)
    command = ["java", f"-javaagent:{JAVA_AGENT}", "-cp", str(relay_dir), "Relay"]
    return running(command, env, relay_dir, "the Java relay (under the agent)")


def node_relay(next_url: str) -> AbstractContextManager[str]:
    """examples/node/service.js: its POST /relay passes the baggage it received on."""
    env = service_env("node-service", next_url, None)
    env["PORT"] = "0"
    return running(["node", "service.js"], env, NODE_SOURCE, "the Node service")
