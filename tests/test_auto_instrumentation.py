"""`opentelemetry-instrument python app.py` picks orq_otel up through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APP = """
import orq_otel
from orq_otel.testing import LocalOpenAIServer

with LocalOpenAIServer() as server, server.client("http://api.orq.ai/v3/router") as client:
    with orq_otel.use_identity(id="auto-user", email="ada@example.com"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    print("BODY", server.requests[-1].body.decode(), flush=True)
"""


def run_instrumented(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        **environment,
    }
    return subprocess.run(
        [str(bin_dir / "opentelemetry-instrument"), sys.executable, str(app)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )


def test_opentelemetry_instrument_exports_a_span_with_the_identity(tmp_path: Path) -> None:
    result = run_instrumented(tmp_path)
    body = json.loads(result.stdout.split("BODY ", 1)[1].splitlines()[0])
    assert body["orq"] == {"identity": {"id": "auto-user", "email": "ada@example.com"}}
    assert '"orq.identity.id": "auto-user"' in result.stdout
    assert '"gen_ai.operation.name": "chat"' in result.stdout
    spans_output = result.stdout.replace(result.stdout.split("BODY ", 1)[1].splitlines()[0], "")
    assert "ada@example.com" not in spans_output  # the e-mail went to orq, not onto the span


def test_environment_options_apply_under_opentelemetry_instrument(tmp_path: Path) -> None:
    result = run_instrumented(
        tmp_path, ORQ_OTEL_RECORD_EMAIL="true", ORQ_OTEL_INJECT_HOSTS="none.invalid"
    )
    body = json.loads(result.stdout.split("BODY ", 1)[1].splitlines()[0])
    assert "orq" not in body
    assert '"orq.identity.email": "ada@example.com"' in result.stdout


def test_an_exporter_that_is_not_installed_leaves_the_app_uninstrumented(tmp_path: Path) -> None:
    # Why README says to install opentelemetry-exporter-otlp or name only exporters you have:
    # opentelemetry-instrument gives up on every instrumentation when one exporter is missing.
    missing = run_instrumented(tmp_path, OTEL_LOGS_EXPORTER="not-installed")
    assert '"orq"' not in missing.stdout.split("BODY", 1)[1].splitlines()[0]
    named = run_instrumented(tmp_path)  # console / none / none, as README says
    assert '"orq"' in named.stdout.split("BODY", 1)[1].splitlines()[0]
