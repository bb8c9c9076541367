"""The real OpenTelemetry backends on loopback: Collector, Jaeger v2 and Prometheus.

The Collector (`tools/otelcol`, the components of `collector-config.yaml`) and Jaeger v2
(`tools/jaeger`) are built from their pinned Go modules by `tools/build.sh` into the
git-ignored `.otel-bin/` (rebuilt only when their pins change); Prometheus comes from
Debian's package. Every process listens on free 127.0.0.1 ports, is waited for with a
bounded wait, and is stopped by the context manager that started it, and only that one.

Used by the integration tests, by `examples/stack/` (the command for users without Docker)
and by any test that needs a Collector or a Jaeger:

    with running_stack(orq_endpoint="http://127.0.0.1:9/", workdir=tmp) as stack:
        ...  # export OTLP to stack.collector.otlp_http, then read stack.jaeger.traces(...)

No pytest here: a backend that cannot be had raises `Unavailable` (tests skip on it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "tools" / "build.sh"
BIN_DIR = Path(os.environ.get("ORQ_OTEL_BIN_DIR", ROOT / ".otel-bin"))
COLLECTOR_CONFIG = ROOT / "collector-config.yaml"
JAEGER_CONFIG = ROOT / "examples" / "stack" / "jaeger.yaml"
PROMETHEUS_CONFIG = ROOT / "examples" / "prometheus.yml"
BUILD_TIMEOUT = 3600  # a cold build downloads and compiles some 700 Go packages on 2 cores
INSTALL_TIMEOUT = 900
START_TIMEOUT = 60
NO_GO = 3  # tools/build.sh's exit code when Go is missing


class Unavailable(RuntimeError):
    """A backend cannot be built or installed on this machine."""


def build(*programs: str) -> dict[str, Path]:
    """Build (or reuse) the named programs ("otelcol", "jaeger"); their paths by name."""
    names = programs or ("otelcol", "jaeger")
    if shutil.which("go") is None and not all((BIN_DIR / name).exists() for name in names):
        raise Unavailable("Go is not installed: cannot build the Collector and Jaeger")
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(BUILD_SCRIPT), *names],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode == NO_GO:
        raise Unavailable(result.stderr.strip())
    if result.returncode != 0:
        raise RuntimeError(f"tools/build.sh failed:\n{result.stdout}\n{result.stderr}")
    return {name: BIN_DIR / name for name in names}


def prometheus_binary() -> str:
    """The `prometheus` command, from Debian's package (installed if we are root)."""
    found = shutil.which("prometheus")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise Unavailable("Prometheus is not installed and apt-get as root is not available")
    try:
        subprocess.run([apt_get, "update", "-qq"], check=True, timeout=INSTALL_TIMEOUT)
        subprocess.run(
            [apt_get, "install", "-y", "-qq", "prometheus"], check=True, timeout=INSTALL_TIMEOUT
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise Unavailable(f"Prometheus could not be installed here: {error}") from error
    found = shutil.which("prometheus")
    if found is None:
        raise Unavailable("prometheus is missing after its install")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.load(response)


def answers(url: str) -> bool:
    """Whether an HTTP GET of this loopback URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def started(
    command: list[str],
    log: Path,
    ready: Callable[[], bool],
    what: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start one process (output to `log`), wait until `ready()`, stop it on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not ready():
                if process.poll() is not None:
                    raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} not ready in {START_TIMEOUT} s:\n{tail(log)}")
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Jaeger:
    query_port: int
    otlp_grpc_port: int
    otlp_http_port: int

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def services(self) -> list[str]:
        return list(get_json(f"{self.ui}/api/services")["data"] or [])

    def traces(self, service: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
        """Jaeger's query API: the traces of `service` with a span that has all these tags."""
        query = urllib.parse.urlencode({"service": service, "tags": json.dumps(dict(tags))})
        return list(get_json(f"{self.ui}/api/traces?{query}")["data"] or [])


@contextmanager
def running_jaeger(binary: Path, workdir: Path) -> Iterator[Jaeger]:
    jaeger = Jaeger(free_port(), free_port(), free_port())
    env = {
        "JAEGER_QUERY_HTTP": f"127.0.0.1:{jaeger.query_port}",
        "JAEGER_QUERY_GRPC": f"127.0.0.1:{free_port()}",
        "JAEGER_OTLP_GRPC": f"127.0.0.1:{jaeger.otlp_grpc_port}",
        "JAEGER_OTLP_HTTP": f"127.0.0.1:{jaeger.otlp_http_port}",
    }
    with started(
        [str(binary), f"--config={JAEGER_CONFIG}"],
        workdir / "jaeger.log",
        lambda: answers(f"{jaeger.ui}/api/services") and listens(jaeger.otlp_grpc_port),
        "Jaeger",
        env,
    ):
        yield jaeger


@dataclass(frozen=True)
class Prometheus:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str) -> list[dict[str, Any]]:
        """PromQL over the HTTP API: the result vector."""
        answer = get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if answer.get("status") != "success":
            raise RuntimeError(f"PromQL {promql!r} failed: {answer}")
        return list(answer["data"]["result"])


def scrape_config(collector_metrics: str, workdir: Path) -> Path:
    """examples/prometheus.yml, scraping the Collector at this address every second."""
    shipped = PROMETHEUS_CONFIG.read_text()
    if "otel-collector:8889" not in shipped or "scrape_interval: 15s" not in shipped:
        raise RuntimeError(f"{PROMETHEUS_CONFIG} no longer names otel-collector:8889 / 15s")
    config = workdir / "prometheus.yml"
    text = shipped.replace("otel-collector:8889", collector_metrics)
    config.write_text(text.replace("scrape_interval: 15s", "scrape_interval: 1s"))
    return config


@contextmanager
def running_prometheus(workdir: Path, config: Path) -> Iterator[Prometheus]:
    """Debian's Prometheus with this configuration, its data in `workdir`."""
    prometheus = Prometheus(free_port())
    command = [
        prometheus_binary(),
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{prometheus.port}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
    ]
    with started(
        command,
        workdir / "prometheus.log",
        lambda: answers(f"{prometheus.url}/-/ready"),
        "Prometheus",
    ):
        yield prometheus


@dataclass(frozen=True)
class Collector:
    otlp_grpc_port: int
    otlp_http_port: int
    metrics_port: int  # its Prometheus exporter, which Prometheus scrapes
    spans_file: Path

    @property
    def otlp_http(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.otlp_http_port}"


def collector_environment(
    collector: Collector, jaeger: Jaeger, orq_endpoint: str
) -> dict[str, str]:
    """The endpoints of collector-config.yaml (its `${env:...}` variables), all loopback."""
    return {
        "ORQ_COLLECTOR_OTLP_GRPC": f"127.0.0.1:{collector.otlp_grpc_port}",
        "ORQ_COLLECTOR_OTLP_HTTP": f"127.0.0.1:{collector.otlp_http_port}",
        "ORQ_COLLECTOR_JAEGER_OTLP_GRPC": f"127.0.0.1:{jaeger.otlp_grpc_port}",
        "ORQ_COLLECTOR_PROMETHEUS": f"127.0.0.1:{collector.metrics_port}",
        "ORQ_COLLECTOR_ORQ_ENDPOINT": orq_endpoint,
        "ORQ_COLLECTOR_SPANS_FILE": str(collector.spans_file),
        "ORQ_COLLECTOR_SELF_METRICS_HOST": "127.0.0.1",
        "ORQ_COLLECTOR_SELF_METRICS_PORT": str(free_port()),
    }


def validate_collector_config(
    binary: Path, config: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`otelcol validate`: loads the config with every component's own checks, opens no port."""
    return subprocess.run(
        [str(binary), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def running_collector(
    binary: Path, workdir: Path, env: Mapping[str, str], config: Path = COLLECTOR_CONFIG
) -> Iterator[subprocess.Popen[bytes]]:
    """The Collector with `config` as it is; `env` gives its endpoints."""
    http_port = int(env["ORQ_COLLECTOR_OTLP_HTTP"].rsplit(":", 1)[1])
    with started(
        [str(binary), f"--config={config}"],
        workdir / "collector.log",
        lambda: listens(http_port),
        "the Collector",
        env,
    ) as process:
        yield process


@dataclass(frozen=True)
class Stack:
    collector: Collector
    jaeger: Jaeger
    prometheus: Prometheus
    workdir: Path


@contextmanager
def running_stack(
    orq_endpoint: str, workdir: Path, orq_api_key: str | None = None
) -> Iterator[Stack]:
    """Jaeger, Prometheus and the Collector running collector-config.yaml, wired together.

    `orq_endpoint` replaces orq.ai's OTLP endpoint (a local sink keeps everything on this
    machine); `orq_api_key` is the Collector's ORQ_API_KEY (the bearer it sends there).
    """
    binaries = build("otelcol", "jaeger")
    with ExitStack() as stack:
        jaeger = stack.enter_context(running_jaeger(binaries["jaeger"], workdir))
        spans_file = workdir / "orq-otel-spans.jsonl"
        collector = Collector(free_port(), free_port(), free_port(), spans_file)
        env = collector_environment(collector, jaeger, orq_endpoint)
        if orq_api_key is not None:
            env["ORQ_API_KEY"] = orq_api_key
        stack.enter_context(running_collector(binaries["otelcol"], workdir, env))
        config = scrape_config(f"127.0.0.1:{collector.metrics_port}", workdir)
        prometheus = stack.enter_context(running_prometheus(workdir, config))
        yield Stack(collector, jaeger, prometheus, workdir)
