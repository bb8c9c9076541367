"""The README's demo command works offline, as written."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_offline_and_attributes_every_call() -> None:
    env = {key: value for key, value in os.environ.items() if key != "ORQ_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "orq_otel.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    output = result.stdout
    assert "the local router (offline)" in output
    assert "router received orq.identity = {'id': 'user-ada'" in output
    assert "baggage: orq.identity.id=user-alan," in output
    summary = output.rsplit("output tokens\n", 1)[1].splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in summary if line.strip()}
    assert rows == {
        "user-ada": ["2", "9", "16"],
        "user-alan": ["2", "9", "16"],
        "support-TICKET-789": ["2", "9", "16"],
    }
