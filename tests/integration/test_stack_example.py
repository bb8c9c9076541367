"""examples/stack/run.sh, the command for users without Docker, run as a user runs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from otel_stack import Unavailable, build, prometheus_binary
from servers import ROOT

pytestmark = pytest.mark.integration


def test_the_stack_command_shows_the_users_calls_in_jaeger_prometheus_and_the_report() -> None:
    try:
        build("otelcol", "jaeger")  # the command builds too; here a missing Go skips
        prometheus_binary()
    except Unavailable as reason:
        pytest.skip(str(reason))
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("ORQ_API_KEY", None)  # the orq.ai exporter goes to the local stand-in
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(ROOT / "examples" / "stack" / "run.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # The build step said "built in N s" or "up to date" for each program.
    assert re.search(r"^otelcol \S+ (built|up to date)", out, re.MULTILINE)
    assert re.search(r"^jaeger \S+ (built|up to date)", out, re.MULTILINE)
    # The three users went through the gateway, the worker and the local router.
    assert "router received orq.identity for: user-ada, user-alan, tenant-navy-user-grace" in out
    # Jaeger: Ada's trace, with both services' spans.
    assert re.search(r"http://127\.0\.0\.1:\d+/api/traces\?service=gateway&tags=", out)
    (spans,) = re.findall(r"trace [0-9a-f]{32}: (\d+) spans", out)
    assert int(spans) >= 5
    assert "gateway: POST /ask" in out
    assert "worker: chat openai/gpt-4o-mini" in out
    # Prometheus answered the per-identity queries it printed.
    assert re.search(r"orq_identity_id=user-ada.*\} 1\b", out)
    assert re.search(r"gen_ai_token_type=input, orq_identity_id=user-ada\} \d+", out)
    # The report over the Collector's spans file: one LLM request per user.
    for user in ("user-ada", "user-alan", "tenant-navy-user-grace"):
        assert re.search(rf"{user}\s+1\b", out), user
    (workdir,) = re.findall(r"logs and the spans file: (\S+)", out)
    assert Path(workdir, "orq-otel-spans.jsonl").stat().st_size > 0
    assert "stopped Jaeger, the Collector and Prometheus" in out
    shutil.rmtree(workdir)
