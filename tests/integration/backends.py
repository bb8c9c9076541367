"""Real telemetry backends for integration tests: installed if missing, started on loopback.

Arize Phoenix (a tracing backend that takes OTLP over HTTP and gRPC) lives in its own
virtual environment, `.venv-phoenix` at the repository root (or $ORQ_OTEL_PHOENIX_BIN);
Prometheus comes from Debian's package (otel_stack.py also starts it as the Collector's
remote-write target). `.ci/run` installs both up front; a test that cannot install one is
skipped, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import otel_stack
import pytest
from otel_stack import Prometheus
from servers import ROOT, free_port, wait_until

PHOENIX_VENV = ROOT / ".venv-phoenix"
PHOENIX_LOCK = ROOT / "constraints" / "phoenix.txt"
INSTALL_TIMEOUT = 900


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return json.load(response)


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def phoenix_binary() -> Path:
    """The `phoenix` command, installing arize-phoenix into its own venv if needed."""
    configured = os.environ.get("ORQ_OTEL_PHOENIX_BIN")
    binary = Path(configured) if configured else PHOENIX_VENV / "bin" / "phoenix"
    if binary.exists():
        return binary
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PHOENIX_VENV)], check=True, timeout=120)
        subprocess.run(
            # The pinned versions .ci/run installs (constraints/, made by scripts/lock.sh).
            [str(PHOENIX_VENV / "bin" / "pip"), "install", "--quiet", "-r", str(PHOENIX_LOCK)],
            check=True,
            timeout=INSTALL_TIMEOUT,
        )
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"Arize Phoenix could not be installed here: {error}")
    return binary


@dataclass(frozen=True)
class Phoenix:
    http_port: int
    grpc_port: int

    def spans_with(self, key: str, value: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.http_port}/v1/projects/default/spans?attribute={key}:{value}"
        try:
            return list(_get_json(url)["data"])
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the project exists only once its first span arrived
                return []
            raise


@contextmanager
def running_phoenix() -> Iterator[Phoenix]:
    binary = phoenix_binary()
    http_port, grpc_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="phoenix-") as workdir:
        env = {
            **os.environ,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(http_port),
            "PHOENIX_GRPC_PORT": str(grpc_port),
            "PHOENIX_WORKING_DIR": workdir,
            # Offline: no downloads, no telemetry, no lookups of outside hosts.
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        log = Path(workdir) / "phoenix.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(binary), "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
            )
            try:
                wait_until(
                    lambda: (
                        process.poll() is None
                        and _reachable(f"http://127.0.0.1:{http_port}/healthz")
                    ),
                    120,
                    "Phoenix to be ready",
                )
                yield Phoenix(http_port, grpc_port)
            finally:
                process.terminate()
                process.wait(timeout=30)


def prometheus_binary() -> str:
    """The `prometheus` command, from Debian's package (installed if we are root)."""
    try:
        return otel_stack.prometheus_binary()
    except otel_stack.Unavailable as reason:
        pytest.skip(str(reason))


@contextmanager
def running_prometheus(target: str, metrics_path: str) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="prometheus-") as workdir:
        config = Path(workdir) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: orq-otel-example\n    metrics_path: {metrics_path}\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        with (Path(workdir) / "prometheus.log").open("wb") as output:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--storage.tsdb.path={Path(workdir) / 'data'}",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(
                    lambda: (
                        process.poll() is None and _reachable(f"http://127.0.0.1:{port}/-/ready")
                    ),
                    60,
                    "Prometheus to be ready",
                )
                yield Prometheus(port)
            finally:
                process.terminate()
                process.wait(timeout=30)
