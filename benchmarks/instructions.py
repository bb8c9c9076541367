"""Instructions per call, counted by callgrind: orq-otel against the peers, deterministically.

    pip install '.[bench]'     # a regular install, not -e (see below)
    python benchmarks/instructions.py [--calls 40] [--startup] [--keep DIR]

Wall-clock ratios on a shared machine move by tens of percent from run to run; callgrind
counts the same work the same way however loaded the machine is. Each configuration runs
in a fresh process under `valgrind --tool=callgrind`, with instrumentation switched on
only once set-up and warm-up are done, and counting switched on only inside
`sys.call_tracing(...)`, the marker this harness wraps each measured block in (nothing
else calls it). Each scenario runs a block of N calls and a block of 2N calls, each dumped
on its own; per call = (count(2N) - count(N)) / N, so start-up, set-up and the loop itself
cancel out. Every process gets the same PYTHONHASHSEED. Threads other than the caller's
are not counted: work moved off the call path (price data) is reported on its own line.

The table gives, per scenario, instructions per call above "SDK, no instrumentor" (the same
client with the OpenTelemetry SDK installed and no instrumentation), and the ratios the
project holds itself to (issue 25). Peers run as in `run.py` (genai-openai in its own
virtual environment). orq-otel runs twice: with an identity in effect on an orq host
(identity, body, header, usage asked on streams), and with no identity on an openai host.

Benchmark a regular install: an editable one adds a `sys.path` entry, and openai probes
for numpy on every embeddings call, paying for one more directory each time. The harness
refuses an editable or out-of-date install of orq-otel (`--allow-stale` overrides).
`--startup` also counts `import` + `instrument()` and the first call after `import openai`.
`--keep DIR` keeps the callgrind files, for `callgrind_annotate DIR/<config>.<pid>.<n>`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CONFIGS, PEERS, ROOT, available, python_for  # noqa: E402 - beside this file

SCENARIOS = ("chat", "stream (20 chunks)", "stream (usage asked)", "embeddings")
OPENAI_URL = "https://api.openai.com/v1"
# Columns, in order: ours, then the peers, then the SDK floor; "sdk" is the baseline.
COLUMNS = {
    "orq": "orq-otel, identity, orq host",
    "orq-bare": "orq-otel, no identity, openai host",
    **{peer: CONFIGS[peer].split(" (")[0].split("instrumentation-")[-1] for peer in PEERS},
    "floor-in-context": "SDK floor (our span + 3 points)",
}
SHORT = {"openinference": "OpenInference", "openllmetry": "OpenLLMetry"}
MARKER = "sys_call_tracing"  # the C function behind sys.call_tracing: toggles counting
WARM_UP = 5


# --- inside the process under callgrind ----------------------------------------------


def instrumentation_on() -> None:
    """Ask callgrind to instrument this process from now on (it was started without).

    callgrind reads the request while this process runs, so poll rather than block.
    """
    tool = shutil.which("callgrind_control") or "/usr/bin/callgrind_control"
    control = subprocess.Popen(
        [tool, "--instr=on", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while control.poll() is None:
        time.sleep(0.01)


def counted(work: Callable[[], Any], calls: int) -> None:
    """`calls` runs of `work` inside the marker: one callgrind dump."""

    def block() -> None:
        for _ in range(calls):
            work()

    gc.collect()
    sys.call_tracing(block, ())


def wait_for_prices() -> None:
    """orq-otel prices calls once its price data is loaded (in the background): wait."""
    try:
        from orq_otel._openai import prices
    except ImportError:  # an orq-otel from before the price data loaded in the background
        return
    ready = getattr(prices, "wait_for_prices", None)
    if ready is not None:
        ready(60)


def set_up(config: str) -> tuple[dict[str, Callable[[], Any]], Any]:
    from child import (
        BASE_URL,
        clients,
        floor_work,
        instrument,
        prepare,
        scenarios,
        sdk_providers,
    )

    prepare(config)
    tracer_provider, meter_provider, exporter = sdk_providers()
    if config in ("orq", "orq-bare"):
        instrument("orq", tracer_provider, meter_provider)
    elif config not in ("sdk", "floor-in-context"):
        instrument(config, tracer_provider, meter_provider)
    if config == "orq":
        from child import IDENTITY
        from opentelemetry import context

        from orq_otel import set_identity

        context.attach(set_identity(IDENTITY))
    works = scenarios(*clients(OPENAI_URL if config == "orq-bare" else BASE_URL))
    if config == "floor-in-context":
        floor = floor_work(tracer_provider, meter_provider)
        works = {name: _then(work, floor) for name, work in works.items()}
    return {name: works[name] for name in SCENARIOS}, exporter


def _then(work: Callable[[], Any], after: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        work()
        after()

    return both


def child(config: str, calls: int) -> None:
    works, exporter = set_up(config)
    for work in works.values():
        for _ in range(WARM_UP):
            work()
    if config.startswith("orq"):
        wait_for_prices()
        for work in works.values():
            work()
    # Set-up objects stay alive for the whole run: frozen, the collector's full passes do
    # not walk them, which would add millions of instructions to whichever block they hit.
    gc.collect()
    gc.freeze()
    before = exporter.count
    instrumentation_on()
    for work in works.values():
        counted(work, calls)
        counted(work, 2 * calls)
    spans = (exporter.count - before) / (3 * calls * len(works))
    if config == "orq":  # the identity must be in effect for every call, or it goes uncounted
        assert exporter.with_identity == exporter.count, "orq-otel spans without the identity"
    print(json.dumps({"scenarios": list(works), "spans_per_call": spans}))


def startup_child(config: str) -> None:
    """Blocks: import + instrument(); the first chat call (clients made in between)."""
    import openai  # noqa: F401 - the application imported openai already
    from child import clients, instrument, prepare, scenarios, sdk_providers

    prepare(config)
    tracer_provider, meter_provider, _ = sdk_providers()
    instrumentation_on()
    gc.collect()
    if config != "none":
        sys.call_tracing(instrument, (config, tracer_provider, meter_provider))
    else:
        sys.call_tracing(int, ())  # an empty block: one dump per block, always
    chat = scenarios(*clients())["chat"]
    gc.collect()
    sys.call_tracing(chat, ())
    if config == "orq":  # what the background thread did, counted on its own in the caller
        wait_for_prices()
        sys.call_tracing(_price_data_work, ())
    print(json.dumps({"config": config}))


def _price_data_work() -> None:
    """What loading genai-prices' data costs (already imported: measured in a fresh import)."""
    for name in [module for module in sys.modules if module.startswith("genai_prices")]:
        del sys.modules[name]
    import genai_prices.data  # noqa: F401
    from genai_prices import Usage, calc_price

    calc_price(Usage(input_tokens=1_000_000), "gpt-4o-mini", provider_id="openai")


# --- the parent ----------------------------------------------------------------------


def check_install(python: str) -> str | None:
    """Why the orq-otel that `python` imports is not what we should measure, or None."""
    probe = (
        "import importlib.metadata as m, json, orq_otel, pathlib;"
        "d = m.distribution('orq-otel'); u = d.read_text('direct_url.json');"
        "e = bool(u) and json.loads(u).get('dir_info', {}).get('editable', False);"
        "print(json.dumps([e, str(pathlib.Path(orq_otel.__file__).parent)]))"
    )
    output = subprocess.run(  # from here: the repository's orq_otel is not on the path
        [python, "-c", probe], capture_output=True, text=True, check=False, cwd=HERE
    )
    if output.returncode != 0:
        return f"orq-otel is not importable from {python}"
    editable, installed = json.loads(output.stdout)
    if editable:
        return "orq-otel is an editable install (pip install '.[bench]', without -e)"
    stale = [
        str(source.relative_to(ROOT))
        for source in (ROOT / "orq_otel").rglob("*.py")
        if not (Path(installed) / source.relative_to(ROOT / "orq_otel")).is_file()
        or (Path(installed) / source.relative_to(ROOT / "orq_otel")).read_bytes()
        != source.read_bytes()
    ]
    if stale:
        return (
            f"the installed orq-otel differs from the working tree ({', '.join(stale[:3])}...): "
            "pip install --no-deps --force-reinstall ."
        )
    return None


def callgrind(python: str, argv: list[str], out_dir: Path, name: str) -> list[int]:
    """Run `python argv` under callgrind; the instruction count of each marker block."""
    prefix = out_dir / f"{name}."
    for stale in out_dir.glob(f"{name}.*"):  # an earlier run's dumps would be read as ours
        stale.unlink()
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--collect-atstart=no",
        f"--toggle-collect={MARKER}",
        f"--dump-after={MARKER}",
        f"--callgrind-out-file={prefix}%p",
        python,
        *argv,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    output = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=3600, check=False
    )
    if output.returncode != 0:
        raise SystemExit(f"{name} failed:\n{output.stderr[-3000:]}")
    return dumps_of(out_dir, name)


def _totals(path: Path) -> int:
    match = re.search(r"^totals:\s*(\d+)", path.read_text(errors="replace"), re.MULTILINE)
    return int(match.group(1)) if match else 0


def dumps_of(out_dir: Path, name: str) -> list[int]:
    """The instruction count of each marker block of the last run of `name` in `out_dir`."""
    runs: dict[str, list[Path]] = {}
    for path in out_dir.glob(f"{name}.*.*"):
        pid, number = path.name[len(name) + 1 :].split(".", 1)
        if pid.isdigit() and number.isdigit():
            runs.setdefault(pid, []).append(path)
    if not runs:
        return []
    last = max(runs, key=lambda pid: max(path.stat().st_mtime for path in runs[pid]))
    return [_totals(path) for path in sorted(runs[last], key=lambda path: int(path.suffix[1:]))]


def per_call(
    config: str, calls: int, out_dir: Path, counts: list[int] | None = None
) -> dict[str, float]:
    if counts is None:
        argv = [str(Path(__file__).resolve()), "--child", config, "--calls", str(calls)]
        counts = callgrind(python_for(config), argv, out_dir, config)
    if len(counts) != 2 * len(SCENARIOS):
        raise SystemExit(f"{config}: {len(counts)} dumps, expected {2 * len(SCENARIOS)}")
    return {
        scenario: (counts[2 * index + 1] - counts[2 * index]) / calls
        for index, scenario in enumerate(SCENARIOS)
    }


def kilo(value: float) -> str:
    return f"{value / 1000:,.0f}k"


def report(results: dict[str, dict[str, float]]) -> None:
    base = results["sdk"]
    above = {
        config: {scenario: value - base[scenario] for scenario, value in values.items()}
        for config, values in results.items()
        if config != "sdk"
    }
    columns = [config for config in COLUMNS if config in above]
    names = [SHORT.get(config, COLUMNS[config]) for config in columns]
    print("\nInstructions per call above 'SDK, no instrumentor' (callgrind; fastest peer in bold)")
    print("| scenario | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for scenario in SCENARIOS:
        peers = {p: above[p][scenario] for p in PEERS if p in above}
        fastest = min(peers, key=peers.__getitem__) if peers else None
        cells = [
            f"**{kilo(above[c][scenario])}**" if c == fastest else kilo(above[c][scenario])
            for c in columns
        ]
        print(f"| {scenario} | " + " | ".join(cells) + " |")
    print(f"(the SDK, no instrumentor: {', '.join(kilo(base[s]) for s in SCENARIOS)})")
    targets(above)


TARGETS = {"chat": 1.0, "embeddings": 1.1, "stream (usage asked)": 0.9}
IDENTITY_BUDGET = 60_000


def targets(above: dict[str, dict[str, float]]) -> None:
    if "orq" not in above:
        return
    print("\nRatios, orq-otel (identity, orq host) to the fastest peer:")
    for scenario in SCENARIOS:
        peers = {p: above[p][scenario] for p in PEERS if p in above}
        if not peers:
            continue
        fastest = min(peers, key=peers.__getitem__)
        ratio = above["orq"][scenario] / peers[fastest]
        target = TARGETS.get(scenario)
        verdict = "" if target is None else f"  target <= {target}x: {_met(ratio <= target)}"
        print(f"  {scenario:<22} {ratio:.2f}x {SHORT.get(fastest, fastest)}{verdict}")
    if "orq-bare" in above:
        print("Identity's own cost (identity on an orq host minus none on an openai host):")
        for scenario in SCENARIOS:
            cost = above["orq"][scenario] - above["orq-bare"][scenario]
            print(
                f"  {scenario:<22} {kilo(cost)}"
                f"  target <= {kilo(IDENTITY_BUDGET)}: {_met(cost <= IDENTITY_BUDGET)}"
            )
        print("  (streams: on an orq host we also ask for usage, so openai parses one more chunk)")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


STARTUP_CONFIGS = ("none", "orq", "openai-v2")


def startup(out_dir: Path, kept: bool = False) -> None:
    counts = {}
    for config in STARTUP_CONFIGS:
        name = f"startup-{config}"
        if kept:
            if len(dumps_of(out_dir, name)) >= 2:
                counts[config] = dumps_of(out_dir, name)
            continue
        if not available(config):
            continue
        argv = [str(Path(__file__).resolve()), "--startup-child", config]
        counts[config] = callgrind(python_for(config), argv, out_dir, name)
    base_call = counts["none"][1]
    print("\nStart-up after `import openai`, instructions (callgrind, the caller's thread)")
    print("| configuration | import + instrument() | first call, extra | total |")
    print("| --- | ---: | ---: | ---: |")
    for config, (started, first, *rest) in counts.items():
        if config == "none":
            continue
        extra = first - base_call
        name = SHORT.get(config, COLUMNS.get(config, config).split(",")[0])
        total = started + extra
        print(f"| {name} | {started / 1e6:.0f}M | {extra / 1e6:.0f}M | {total / 1e6:.0f}M |")
        if rest:
            print(f"  ({name}: price data, loaded on a background thread: {rest[0] / 1e6:.0f}M)")
    print(f"(the uninstrumented first call itself: {base_call / 1e6:.0f}M)")


def report_kept(out_dir: Path, calls: int) -> None:
    """The tables, from the callgrind files of an earlier run (--keep), complete ones only."""
    results = {}
    for config in ["sdk", "orq", "orq-bare", *PEERS, "floor-in-context"]:
        counts = dumps_of(out_dir, config)
        if len(counts) == 2 * len(SCENARIOS):
            results[config] = per_call(config, calls, out_dir, counts)
    report(results)
    if all(len(dumps_of(out_dir, f"startup-{c}")) >= 2 for c in ("none", "orq")):
        startup(out_dir, kept=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40, help="N: blocks of N and 2N calls")
    parser.add_argument("--configs", nargs="*", help="only these (sdk is always run)")
    parser.add_argument("--startup", action="store_true", help="also count start-up")
    parser.add_argument("--keep", type=Path, help="keep the callgrind files in this directory")
    parser.add_argument(
        "--report", type=Path, help="report the callgrind files kept (--keep) in this directory"
    )
    parser.add_argument("--allow-stale", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--startup-child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.calls)
        return
    if options.startup_child:
        startup_child(options.startup_child)
        return
    if options.report:
        report_kept(options.report, options.calls)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    wanted = ["sdk", *(options.configs or ["orq", "orq-bare", *PEERS, "floor-in-context"])]
    configs = [c for c in dict.fromkeys(wanted) if available(c)]
    for config in {python_for(c) for c in configs if c.startswith("orq") or c in PEERS}:
        problem = check_install(config)
        if problem and not options.allow_stale:
            raise SystemExit(f"{config}: {problem}")
    out_dir = options.keep or Path(tempfile.mkdtemp(prefix="orq-otel-callgrind-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for config in configs:
        started = time.monotonic()
        results[config] = per_call(config, options.calls, out_dir)
        print(f"  {config}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    report(results)
    if options.startup:
        startup(out_dir)
    if options.keep is None:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
