"""`orq_otel.setup()`: the exporter chosen from the environment, providers respected, flush."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import REPLY_TOKENS
from otlp_receiver import OTLPReceiver, attributes_of

# Each scenario runs in its own process: OpenTelemetry's global providers are set-once.
APP = """
import os, sys
import orq_otel
from orq_otel.testing import LocalOpenAIServer

if os.environ.get("APP_OWN_PROVIDER"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    own = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(own))
    trace.set_tracer_provider(provider)

handle = orq_otel.setup("checkout-service")
again = orq_otel.setup("another-name")
print("SAME", again is handle, "DESTINATION", handle.destination, flush=True)
with LocalOpenAIServer() as server, server.client() as client:
    with orq_otel.use_identity(id="user-42", display_name="Ada"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
if os.environ.get("APP_OWN_PROVIDER"):
    print("OWN", [span.name for span in own.get_finished_spans()], flush=True)
handle.shutdown()
"""


def run_app(tmp_path: Path, **environment: str) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "ORQ_"))}
    # A long batch delay: the span reaches the receiver only because shutdown() flushes.
    env.update({"OTEL_BSP_SCHEDULE_DELAY": "60000", **environment})
    result = subprocess.run(
        [sys.executable, str(app)], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    return result.stdout


def test_with_orq_api_key_spans_go_to_orq_with_bearer_auth(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output = run_app(
            tmp_path, ORQ_API_KEY="orq-secret", ORQ_OTEL_ENDPOINT=f"{receiver.url}/v2/otel"
        )
        exports = receiver.exports
    assert "SAME True DESTINATION orq.ai" in output
    (export,) = exports
    assert export.path == "/v2/otel/v1/traces"
    assert export.headers["authorization"] == "Bearer orq-secret"
    assert export.headers["content-type"] == "application/x-protobuf"
    ((resource, span),) = list(export.spans())
    assert resource["service.name"] == "checkout-service"
    assert span.name == "chat gpt-4o-mini"
    attributes = attributes_of(span)
    assert attributes["orq.identity.id"] == "user-42"
    assert attributes["orq.identity.display_name"] == "Ada"
    assert attributes["gen_ai.usage.output_tokens"] == REPLY_TOKENS


def test_standard_otlp_settings_win_over_orq(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output = run_app(
            tmp_path,
            ORQ_API_KEY="orq-secret",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_EXPORTER_OTLP_HEADERS="x-team=payments",
            OTEL_METRICS_EXPORTER="none",
        )
        exports = receiver.exports
    assert "DESTINATION otlp" in output
    (export,) = exports
    assert export.path == "/v1/traces"
    assert export.headers["x-team"] == "payments"
    assert "authorization" not in export.headers
    assert [span.name for _, span in export.spans()] == ["chat gpt-4o-mini"]


def test_service_name_from_the_environment_is_overridden_by_the_argument(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        run_app(
            tmp_path,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.url}/v1/traces",
            OTEL_SERVICE_NAME="from-env",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging",
        )
        ((resource, _),) = list(receiver.exports[0].spans())
    assert resource["service.name"] == "checkout-service"
    assert resource["deployment.environment"] == "staging"


def test_without_any_destination_spans_go_to_the_console(tmp_path: Path) -> None:
    output = run_app(tmp_path)
    assert "DESTINATION console" in output
    assert '"orq.identity.id": "user-42"' in output


def test_traces_exporter_none_exports_nothing(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output = run_app(
            tmp_path, OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url
        )
        assert receiver.exports == []
    assert "DESTINATION none" in output


def test_providers_the_application_installed_are_used_not_replaced(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output = run_app(
            tmp_path,
            APP_OWN_PROVIDER="1",
            ORQ_API_KEY="orq-secret",
            ORQ_OTEL_ENDPOINT=f"{receiver.url}/v2/otel",
        )
        assert receiver.exports == []
    assert "DESTINATION existing" in output
    assert "OWN ['chat gpt-4o-mini']" in output


BOUNDED_APP = """
import sys, orq_otel
from orq_otel.testing import LocalOpenAIServer
handle = orq_otel.setup("bounded")
with LocalOpenAIServer() as server, server.client() as client:
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
if sys.argv[1] == "flush":
    print("FLUSHED", handle.force_flush(timeout=5.0), flush=True)
print("SHUT DOWN", handle.shutdown(timeout=float(sys.argv[2])), flush=True)
"""


def run_bounded(tmp_path: Path, endpoint: str, *arguments: str) -> tuple[str, str]:
    """The app's output and its log (stderr)."""
    app = tmp_path / "bounded.py"
    app.write_text(BOUNDED_APP)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "ORQ_"))}
    env.update({"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    env["OTEL_METRICS_EXPORTER"] = "none"  # spans only: the test receiver takes no metrics
    # Well below the 36-49 s the SDK's own shutdown takes against such a collector.
    result = subprocess.run(
        [sys.executable, str(app), *arguments],
        capture_output=True,
        text=True,
        timeout=25,
        env=env,
        check=True,
    )
    return result.stdout, result.stderr


def test_shutdown_gives_up_at_its_timeout_when_the_collector_never_answers(
    tmp_path: Path,
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), answers nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        output, log = run_bounded(tmp_path, f"http://127.0.0.1:{port}", "shutdown", "1.0")
    assert "SHUT DOWN False" in output
    assert log.count("orq_otel: ") == 1


def test_shutdown_reports_false_with_one_warning_when_connections_are_refused(
    tmp_path: Path,
) -> None:
    # Every export fails fast, inside the timeout: nothing was exported all the same.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections to it are refused
    output, log = run_bounded(tmp_path, f"http://127.0.0.1:{port}", "shutdown", "10")
    assert "SHUT DOWN False" in output
    warnings = [line for line in log.splitlines() if line.startswith("orq_otel: ")]
    assert len(warnings) == 1
    assert "failed" in warnings[0]


def test_force_flush_exports_what_is_batched(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output, log = run_bounded(tmp_path, receiver.url, "flush", "5")
        exports = receiver.exports
    assert "orq_otel: " not in log
    assert "FLUSHED True" in output
    assert "SHUT DOWN True" in output
    assert [span.name for export in exports for _, span in export.spans()] == ["chat gpt-4o-mini"]
