"""`orq-otel report`: what each identity used and cost, from telemetry you already export.

    orq-otel report spans.jsonl [more files] [--by identity|tag|metadata.KEY]
                    [--since 7d] [--until 2026-11-25T00:00] [--format table|csv|json]

Reads OTLP JSON files written by the Collector's `file` exporter and the JSON of Jaeger's
`/api/traces` API; prints, per group, requests, errors, tokens, cost, p50/p95 latency and
the top models. Files are streamed: memory stays flat however large they are.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COLUMNS = (
    "group",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "p50_ms",
    "p95_ms",
    "top_models",
)


def parse_time(text: str, now: datetime.datetime | None = None) -> int:
    """Nanoseconds since the epoch from '7d' / '24h' (ago) or an ISO 8601 time (UTC if naive)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    relative = _RELATIVE.match(text.strip())
    if relative:
        moment = now - datetime.timedelta(seconds=int(relative[1]) * _UNITS[relative[2]])
    else:
        try:
            moment = datetime.datetime.fromisoformat(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither a duration like 7d / 24h nor an ISO 8601 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1e9)


def _group_by(text: str) -> str:
    if text in ("identity", "tag") or (text.startswith("metadata.") and len(text) > 9):
        return text
    raise argparse.ArgumentTypeError("--by takes identity, tag or metadata.<key>")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orq-otel", description="orq-otel tools")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="per-identity usage and cost from exported spans")
    report.add_argument(
        "files", nargs="+", type=Path, help="OTLP JSON (lines) or Jaeger JSON files"
    )
    report.add_argument(
        "--by", type=_group_by, default="identity", help="identity (default), tag or metadata.<key>"
    )
    report.add_argument(
        "--since", type=parse_time, help="only spans that started since: 7d, 24h, or an ISO time"
    )
    report.add_argument("--until", type=parse_time, help="only spans that started before this time")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:  # the report's own dependencies are an extra: a clear message if they are missing
        from orq_otel._report.aggregate import aggregate  # noqa: PLC0415
        from orq_otel._report.readers import ReadStats, read_spans  # noqa: PLC0415
    except ImportError as error:  # ijson / ddsketch are the report extra
        print(f"orq-otel report needs: pip install 'orq-otel[report]' ({error})", file=sys.stderr)
        return 2
    missing = [str(path) for path in options.files if not path.is_file()]
    if missing:
        print(f"orq-otel report: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    stats = ReadStats()
    with ExitStack() as stack:
        progress = _progress_bar(stack, sum(path.stat().st_size for path in options.files))
        stats.on_progress = progress

        def spans() -> Iterator[Any]:
            for path in options.files:
                with path.open("rb") as stream:
                    yield from read_spans(stream, stats)

        groups = aggregate(spans(), options.by, options.since, options.until)
    rows = sorted(
        (group.row(name) for name, group in groups.items()),
        key=lambda row: (-(row["cost_usd"] or 0.0), -row["requests"], row["group"]),
    )
    write(rows, options.format, sys.stdout, options.by)
    print(
        f"{stats.spans} LLM spans read, {stats.skipped} other spans skipped, "
        f"{stats.malformed} malformed lines or spans skipped",
        file=sys.stderr,
    )
    return 0


def _progress_bar(stack: ExitStack, total: int) -> Any:
    """A byte progress bar on a terminal; None (no output) when stderr is not one."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm  # noqa: PLC0415 - only on a terminal

    bar = stack.enter_context(tqdm(total=total, unit="B", unit_scale=True, desc="reading"))
    return bar.update


def write(rows: list[dict[str, Any]], fmt: str, out: TextIO, by: str) -> None:
    if fmt == "json":
        json.dump({"group_by": by, "groups": rows}, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            top_models = " ".join(row["top_models"])
            writer.writerow(
                {**row, "group": _csv_text(row["group"]), "top_models": _csv_text(top_models)}
            )
    else:
        _table(rows, out, by)


# Control characters (ESC starts terminal sequences that recolour, retitle or rewrite the
# screen), and format characters such as bidi overrides, which reorder what is shown.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """Text from spans (ids, tags: anyone's input) shown as it is, never acted on."""
    return _UNPRINTABLE.sub(_escaped, text)


def _csv_text(value: Any) -> Any:
    """A text cell that a spreadsheet shows rather than evaluates (OWASP's CSV injection
    advice: a leading quote), printable as on the terminal."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "cost_usd":
        return f"{value:,.6f}"  # LLM calls cost fractions of a cent
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return printable(", ".join(value))
    return printable(str(value))


def _table(rows: list[dict[str, Any]], out: TextIO, by: str) -> None:
    headers = [by if column == "group" else column for column in COLUMNS]
    cells = [[_cell(column, row[column]) for column in COLUMNS] for row in rows]
    widths = [
        max([len(header), *(len(line[i]) for line in cells)]) for i, header in enumerate(headers)
    ]
    numeric = [column not in ("group", "top_models") for column in COLUMNS]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out.write(line(headers) + "\n")
    out.write(line(["-" * width for width in widths]) + "\n")
    for values in cells:
        out.write(line(values) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
