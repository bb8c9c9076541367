"""`orq-otel report`: per-identity totals from exported OTLP JSON and Jaeger JSON, streamed."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import openai
import pytest
from conftest import CALLS, Telemetry
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from orq_otel import use_identity
from orq_otel._report.cli import main, parse_time

DATA = Path(__file__).parent / "data"


def report(*args: str) -> tuple[Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["report", *args, "--format", "json"]) == 0
    groups = {row["group"]: row for row in json.loads(out.getvalue())["groups"]}
    return groups, err.getvalue()


def export_as_collector_file(telemetry: Telemetry, path: Path, lines_per_batch: int = 2) -> None:
    """Our spans, encoded as OTLP JSON the way the Collector's file exporter writes them."""
    spans = telemetry.spans()
    with path.open("w") as out:
        for start in range(0, len(spans), lines_per_batch):
            request = encode_spans(spans[start : start + lines_per_batch])
            out.write(MessageToJson(request, indent=None) + "\n")


@pytest.fixture
def exported(telemetry: Telemetry, orq_client: openai.OpenAI, tmp_path: Path) -> Path:
    for user, tags, plan, calls in (
        ("user-ada", ["pro", "eu"], "pro", 3),
        ("user-alan", ["free"], "free", 2),
    ):
        with use_identity(id=user, tags=tags, metadata={"plan": plan}):
            for _ in range(calls):
                CALLS["chat"](orq_client)
            CALLS["embeddings"](orq_client)
    with (
        use_identity(id="user-alan", tags=["free"], metadata={"plan": "free"}),
        pytest.raises(openai.InternalServerError),
    ):
        orq_client.chat.completions.create(model="error-500", messages=[])
    path = tmp_path / "spans.jsonl"
    export_as_collector_file(telemetry, path)
    return path


def test_report_totals_per_identity_from_a_real_otlp_json_export(exported: Path) -> None:
    groups, log = report(str(exported))
    ada, alan = groups["user-ada"], groups["user-alan"]
    assert (ada["requests"], ada["errors"]) == (4, 0)
    assert (alan["requests"], alan["errors"]) == (4, 1)
    assert ada["input_tokens"] == 3 * 5 + 5  # three chats and one embedding of five words
    assert ada["output_tokens"] == 3 * 8
    assert ada["top_models"][0] == "gpt-4o-mini-0001"
    assert ada["p50_ms"] is not None
    assert ada["p95_ms"] >= ada["p50_ms"]
    assert "8 LLM spans read" in log
    assert "0 malformed" in log


def test_report_groups_by_tag_and_by_metadata_key(exported: Path) -> None:
    by_tag, _ = report(str(exported), "--by", "tag")
    assert {name: row["requests"] for name, row in by_tag.items()} == {"pro": 4, "eu": 4, "free": 4}
    by_plan, _ = report(str(exported), "--by", "metadata.plan")
    assert {name: row["requests"] for name, row in by_plan.items()} == {"pro": 4, "free": 4}


def test_report_reads_jaeger_api_json() -> None:
    groups, log = report(str(DATA / "jaeger_traces.json"))
    assert set(groups) == {"user-ada", "user-alan"}
    assert groups["user-ada"]["requests"] == 1  # the HTTP server span is not an LLM call
    assert groups["user-ada"]["cost_usd"] == pytest.approx(0.000036)
    assert groups["user-ada"]["p50_ms"] == pytest.approx(800, rel=0.02)
    assert groups["user-alan"]["errors"] == 1
    assert groups["user-alan"]["cost_usd"] is None  # no price known: no made-up zero
    assert "3 LLM spans read, 1 other spans skipped" in log
    by_tag, _ = report(str(DATA / "jaeger_traces.json"), "--by", "tag")
    assert by_tag["eu"]["requests"] == 1


def test_time_window_filters_by_span_start() -> None:
    groups, _ = report(str(DATA / "jaeger_traces.json"), "--since", "2025-11-25T00:30:00")
    assert set(groups) == {"user-alan"}
    groups, _ = report(str(DATA / "jaeger_traces.json"), "--until", "2025-11-25T00:30:00")
    assert set(groups) == {"user-ada"}


def test_relative_times_count_back_from_now() -> None:
    import datetime

    now = datetime.datetime(2026, 11, 25, tzinfo=datetime.timezone.utc)
    assert parse_time("7d", now) == int((now - datetime.timedelta(days=7)).timestamp() * 1e9)
    with pytest.raises(Exception, match="neither a duration"):
        parse_time("last tuesday", now)


def test_malformed_lines_are_counted_not_fatal(exported: Path, tmp_path: Path) -> None:
    lines = exported.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        "\n".join([lines[0], "{not json", '{"resourceSpans": "nope"}', '{"other": 1}', *lines[1:]])
        + "\n"
    )
    groups, log = report(str(broken))
    assert groups["user-ada"]["requests"] == 4
    assert "3 malformed" in log


def test_csv_and_table_output(exported: Path) -> None:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        main(["report", str(exported), "--format", "csv"])
    header, *rows = out.getvalue().splitlines()
    assert header.startswith("group,requests,errors,input_tokens,output_tokens,cost_usd")
    assert len(rows) == 2
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        main(["report", str(exported)])
    table = out.getvalue().splitlines()
    assert table[0].split()[:3] == ["identity", "requests", "errors"]
    assert any(line.startswith("user-ada") for line in table[2:])


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in err.getvalue()


# --- memory stays flat as the input grows ----------------------------------------------


def _generate(path: Path, spans: int) -> None:
    """A Collector-style OTLP JSON lines file of LLM spans for 200 identities."""
    rng = random.Random(7)
    with path.open("w") as out:
        for batch_start in range(0, spans, 200):
            batch = []
            for number in range(batch_start, min(batch_start + 200, spans)):
                start = 1_764_000_000_000_000_000 + number * 1_000_000
                attributes = [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                    {
                        "key": "gen_ai.usage.input_tokens",
                        "value": {"intValue": str(rng.randint(1, 900))},
                    },
                    {
                        "key": "gen_ai.usage.output_tokens",
                        "value": {"intValue": str(rng.randint(1, 300))},
                    },
                    {"key": "orq.cost.usd", "value": {"doubleValue": 0.0001}},
                    {"key": "orq.identity.id", "value": {"stringValue": f"user-{number % 200}"}},
                ]
                batch.append(
                    {
                        "traceId": f"{number:032x}",
                        "spanId": f"{number:016x}",
                        "name": "chat gpt-4o-mini",
                        "kind": 3,
                        "startTimeUnixNano": str(start),
                        "endTimeUnixNano": str(start + rng.randint(100, 3000) * 1_000_000),
                        "attributes": attributes,
                        "status": {},
                    }
                )
            request = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": batch}]}]}
            out.write(json.dumps(request) + "\n")


def _peak_kib(path: Path) -> tuple[int, int]:
    code = (
        "import io, resource, sys\n"
        "from contextlib import redirect_stdout, redirect_stderr\n"
        "from orq_otel._report.cli import main\n"
        "with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):\n"
        f"    main(['report', {str(path)!r}, '--format', 'json'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    return int(result.stdout.strip()), path.stat().st_size // 1024


def test_memory_stays_flat_when_the_input_grows_tenfold(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _generate(small, 20_000)
    _generate(large, 200_000)
    small_peak, small_size = _peak_kib(small)
    large_peak, large_size = _peak_kib(large)
    assert large_size > 9 * small_size  # ~100 MB vs ~10 MB of input
    # The input grew by ~90 MB; the process may grow by a few MB of noise, not by the input.
    assert large_peak - small_peak < 10 * 1024, (small_peak, large_peak)


def run_report(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["report", *args]) == 0
    return out.getvalue()


@pytest.fixture
def hostile_export(exported: Path, tmp_path: Path) -> Path:
    """The export, with a tag holding terminal escape sequences (a title change, a
    colour, a bidi override) and an id that a spreadsheet would run as a formula; span
    attributes are anyone's input once they come from another service or a file."""
    text = exported.read_text()
    text = text.replace('"pro"', json.dumps("\x1b]0;pwned\x07\x1b[31mred\u202e"))
    text = text.replace('"user-alan"', json.dumps('=HYPERLINK("http://evil.example","x")'))
    path = tmp_path / "hostile.jsonl"
    path.write_text(text)
    return path


def test_table_output_shows_escape_sequences_and_never_sends_them(hostile_export: Path) -> None:
    table = run_report(str(hostile_export), "--by", "tag")
    assert not {"\x1b", "\x07", "\u202e"} & set(table)
    assert "\\x1b]0;pwned\\x07\\x1b[31mred\\u202e" in table  # shown, escaped


def test_csv_output_neutralises_formulas(hostile_export: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run_report(str(hostile_export), "--format", "csv"))))
    groups = {row["group"] for row in rows}
    assert '\'=HYPERLINK("http://evil.example","x")' in groups
    assert not any(group.startswith(("=", "+", "-", "@", "\t", "\r")) for group in groups)
    tags = run_report(str(hostile_export), "--by", "tag", "--format", "csv")
    assert "\x1b" not in tags
