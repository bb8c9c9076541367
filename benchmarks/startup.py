"""Start-up cost: `import` plus `instrument()` after `import openai`, in fresh processes.

    python benchmarks/startup.py [--rounds 15]

Auto-instrumentation runs at every process start (serverless cold starts, CLI tools), so
this is time every process pays. Each round starts one fresh process per configuration,
in an order that rotates every round. Inside it, after `import openai` (and the SDK's
providers, which any traced process has), the child times:

- start-up: importing the instrumentation and calling `instrument()`;
- first call: the first chat call of a new client (a mock transport, no network), which
  is where openai imports its resource modules and where work an instrumentation
  deferred lands.

The table gives medians over rounds; "first call" is shown as the extra over the same
first call without instrumentation, so start-up plus that extra is what an
instrumentation adds before a process's first answer. `genai-openai` runs in its own
virtual environment (see README, Performance).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CONFIGS, available, python_for  # noqa: E402 - run.py sits beside this file

STARTUP_CONFIGS = ("none", "orq", "openai-v2", "genai-openai", "openinference", "openllmetry")


def time_one_start(config: str) -> dict[str, float]:
    import os

    import openai  # noqa: F401 - the baseline: the application already imported openai
    from child import CONTENT_OFF, clients, instrument, scenarios, sdk_providers

    os.environ.update(CONTENT_OFF)
    if config == "openai-v2":
        import importlib.util

        import httpx2

        if importlib.util.find_spec("httpx") is None:
            httpx2.alias_httpx()  # a shim for openai 3.x in this benchmark, not timed
    tracer_provider, meter_provider, _ = sdk_providers()
    started = time.perf_counter()
    if config != "none":
        instrument(config, tracer_provider, meter_provider)
    instrumented = time.perf_counter()
    chat = scenarios(*clients())["chat"]
    before_call = time.perf_counter()
    chat()
    first_call = time.perf_counter() - before_call
    return {"startup_ms": (instrumented - started) * 1000, "first_call_ms": first_call * 1000}


def run_child(config: str) -> dict[str, float]:
    output = subprocess.run(
        [python_for(config), str(Path(__file__).resolve()), "--child", config],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=HERE,
    )
    if output.returncode != 0:
        raise SystemExit(f"{config} failed:\n{output.stderr[-3000:]}")
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def measure(rounds: int) -> dict[str, dict[str, float]]:
    configs = [config for config in STARTUP_CONFIGS if available(config)]
    samples: dict[str, list[dict[str, float]]] = {config: [] for config in configs}
    for round_number in range(rounds):
        shift = round_number % len(configs)
        for config in configs[shift:] + configs[:shift]:
            samples[config].append(run_child(config))
    return {
        config: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for config, runs in samples.items()
    }


def report(medians: dict[str, dict[str, float]]) -> None:
    base_first_call = medians["none"]["first_call_ms"]
    print("\nStart-up after `import openai` (median over rounds, ms)")
    print(f"{'configuration':<52}{'start-up':>10}{'first call, extra':>20}{'total':>8}")
    for config, values in medians.items():
        if config == "none":
            print(f"{'no instrumentation':<52}{0:>10.1f}{'-':>20}{0:>8.1f}")
            continue
        extra = values["first_call_ms"] - base_first_call
        total = values["startup_ms"] + extra
        print(f"{CONFIGS[config]:<52}{values['startup_ms']:>10.1f}{extra:>20.1f}{total:>8.1f}")
    print(f"(the uninstrumented first call itself: {base_first_call:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(time_one_start(options.child)))
        return
    report(measure(options.rounds))


if __name__ == "__main__":
    main()
