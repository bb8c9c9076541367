"""orq-otel against the OpenTelemetry SDK's floor and the peers, in one run.

    pip install -c constraints/bench.txt '.[bench]'   # a regular install, not -e
    python benchmarks/run.py [--rounds 5] [--calls 400] [--memory] [--startup]

Each configuration runs in a fresh process (benchmarks/child.py); configurations run in
an order that rotates every round; the table gives the median over rounds of each
process's fastest repeat, the overhead in µs over "SDK, no instrumentor", and the ratios the
project holds itself to.

Rounds are paired: within a round every process gets the same PYTHONHASHSEED and, where
`setarch -R` exists, the same address layout, so configurations are compared on the same
memory layout; the layout changes from round to round. Without this, layout alone moves
a 20-chunk stream by +-90 µs from one process to the next; with it, by +-10 µs.
A configuration whose package is missing is skipped, saying so. `genai-openai` needs a
newer opentelemetry-util-genai than openai-v2 accepts, so it runs in its own virtual
environment: `.venv-bench-genai` beside the repository, or `$ORQ_OTEL_BENCH_GENAI_PYTHON`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("child.py")
CONFIGS = {
    "none": "no tracing",
    "sdk": "SDK, no instrumentor",
    "floor": "SDK floor (orq-otel's span + 3 points, no openai)",
    "floor-in-context": "SDK floor in context (after each openai call)",
    "orq": "orq-otel",
    "openai-v2": "opentelemetry-instrumentation-openai-v2",
    "genai-openai": "opentelemetry-instrumentation-genai-openai",
    "openinference": "openinference-instrumentation-openai",
    "openllmetry": "opentelemetry-instrumentation-openai (OpenLLMetry)",
}
NEEDS = {
    "openai-v2": "opentelemetry.instrumentation.openai_v2",
    "genai-openai": "opentelemetry.instrumentation.genai.openai",
    "openinference": "openinference.instrumentation.openai",
    "openllmetry": "opentelemetry.instrumentation.openai",
}
PEERS = ("openai-v2", "genai-openai", "openinference", "openllmetry")
STREAM = "stream (20 chunks)"
ROOT = Path(__file__).resolve().parents[1]


def python_for(config: str) -> str:
    """The interpreter a configuration runs in: its own virtual environment, or ours."""
    if config == "genai-openai":
        return os.environ.get(
            "ORQ_OTEL_BENCH_GENAI_PYTHON", str(ROOT / ".venv-bench-genai" / "bin" / "python")
        )
    return sys.executable


def available(config: str) -> bool:
    module = NEEDS.get(config)
    if module is None:
        return True
    python = python_for(config)
    if python != sys.executable:
        probe = f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"
        return (
            Path(python).exists()
            and subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode
            == 0
        )
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def same_layout_prefix() -> list[str]:
    """`setarch <arch> -R`: no address randomisation, so one round's processes match."""
    setarch = shutil.which("setarch")
    if setarch is None or platform.system() != "Linux":
        return []
    probe = subprocess.run(
        [setarch, platform.machine(), "-R", "true"], capture_output=True, check=False
    )
    return [setarch, platform.machine(), "-R"] if probe.returncode == 0 else []


def run_child(config: str, calls: int, round_number: int, prefix: list[str]) -> dict[str, Any]:
    output = subprocess.run(
        [*prefix, python_for(config), str(CHILD), config, "--calls", str(calls)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": str(round_number)},
    )
    if output.returncode != 0:
        raise SystemExit(f"{config} failed:\n{output.stderr[-3000:]}")
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


SPANS: dict[str, dict[str, float]] = {}


def collect(configs: list[str], rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {config: {} for config in configs}
    spans = SPANS
    prefix = same_layout_prefix()
    for round_number in range(rounds):
        shift = round_number % len(configs)
        for config in configs[shift:] + configs[:shift]:
            result = run_child(config, calls, round_number, prefix)
            for scenario, value in result["scenarios"].items():
                samples[config].setdefault(scenario, []).append(value)
            spans[config] = result["spans_per_call"]
        print(f"  round {round_number + 1}/{rounds} done", file=sys.stderr)
    check_one_span_per_call(spans)
    return samples


def check_one_span_per_call(spans: dict[str, dict[str, float]]) -> None:
    for config, per_scenario in spans.items():
        if config in ("none", "sdk", "floor"):
            assert all(value == 0 for value in per_scenario.values()), (config, per_scenario)
            continue
        for scenario, value in per_scenario.items():
            if value != 1:
                print(
                    f"  note: {config} made {value} spans per call for {scenario}", file=sys.stderr
                )


def report(samples: dict[str, dict[str, list[float]]]) -> None:
    medians = {c: {s: statistics.median(v) for s, v in sc.items()} for c, sc in samples.items()}
    base = medians["sdk"]
    floor = medians["floor"]["floor"]
    scenarios = list(base)
    header = f"{'configuration':<52}" + "".join(f"{s:>22}" for s in scenarios)
    print("\nµs per call (median over rounds), and overhead over 'SDK, no instrumentor'")
    print(header)
    for config, values in medians.items():
        if config == "floor":
            print(f"{CONFIGS[config]:<52}{'':>1}(SDK work alone per call: {floor:.0f} µs)")
            continue
        cells = []
        for scenario in scenarios:
            value = values.get(scenario)
            if value is None:
                cells.append(f"{'-':>22}")
            elif config in ("none", "sdk") or SPANS.get(config, {}).get(scenario, 1) == 0:
                cells.append(f"{value:>22.0f}")
            else:
                cells.append(f"{value:>11.0f} (+{value - base[scenario]:>5.0f})")
        print(f"{CONFIGS[config]:<52}" + "".join(cells))
    targets(medians, floor)


def targets(medians: dict[str, dict[str, float]], floor: float) -> None:
    base = medians["sdk"]

    def overhead(config: str, scenario: str) -> float | None:
        """Overhead over the SDK alone; None where the configuration made no span."""
        value = medians.get(config, {}).get(scenario)
        if value is None or SPANS.get(config, {}).get(scenario, 1) == 0:
            return None
        return value - base[scenario]

    print("\nTargets (orq-otel overhead over 'SDK, no instrumentor'):")
    for scenario in base:
        ours = overhead("orq", scenario)
        if ours is None:
            continue
        parts = [f"  {scenario:<30} {ours:>5.0f} µs"]
        if "stream" not in scenario:
            parts.append(f"{ours / floor:.2f}x the SDK floor alone")
        in_context = overhead("floor-in-context", scenario)
        if in_context:
            parts.append(f"{ours / in_context:.2f}x the SDK floor in context")
        peers = {p: o for p in PEERS if (o := overhead(p, scenario)) is not None}
        if peers:
            fastest = min(peers, key=peers.__getitem__)
            parts.append(f"{ours / peers[fastest]:.2f}x the fastest peer ({fastest})")
        print(", ".join(parts))
    print("  (targets: chat <= 0.9x the fastest peer; a stream on the same chunks (usage")
    print("   asked) <= the fastest peer's overhead)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument(
        "--memory", action="store_true", help="also run the 100,000-call memory check"
    )
    parser.add_argument(
        "--startup", action="store_true", help="also time start-up (benchmarks/startup.py)"
    )
    parser.add_argument("--save", type=Path, help="write the raw samples to this JSON file")
    parser.add_argument("--load", type=Path, help="report samples saved earlier; run nothing")
    options = parser.parse_args()
    if options.load:
        saved = json.loads(options.load.read_text())
        SPANS.update(saved["spans"])
        report(saved["samples"])
        return
    configs = [config for config in CONFIGS if available(config)]
    for config in CONFIGS:
        if config not in configs:
            print(f"skipped {config}: not installed (pip install -e '.[bench]')", file=sys.stderr)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    samples = collect(configs, options.rounds, options.calls)
    if options.save:
        options.save.write_text(json.dumps({"samples": samples, "spans": SPANS}))
    report(samples)
    if options.startup:
        subprocess.run([sys.executable, str(Path(__file__).with_name("startup.py"))], check=True)
    if options.memory:
        subprocess.run([sys.executable, str(Path(__file__).with_name("memory.py"))], check=True)


if __name__ == "__main__":
    main()
