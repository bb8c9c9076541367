"""Loading and unloading: the way OpenTelemetry users do it."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
import wrapt
from conftest import CALLS, Telemetry
from openai._base_client import AsyncAPIClient, SyncAPIClient
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings

from orq_otel import OrqInstrumentor
from orq_otel._openai.package import OLDEST_OPENAI
from orq_otel._openai.patches import PATCHES


def originals() -> list[object]:
    modules = [importlib.import_module(patch.module) for patch in PATCHES]
    return [
        vars(getattr(module, patch.class_name))[patch.method]
        for module, patch in zip(modules, PATCHES, strict=True)
    ]


@pytest.fixture
def uninstrumented() -> Iterator[None]:
    yield
    OrqInstrumentor().uninstrument()


def test_uninstrument_restores_every_original(
    telemetry: Telemetry, plain_client: openai.OpenAI
) -> None:
    telemetry.instrumentor.uninstrument()
    before = originals()
    telemetry.instrument()
    assert all(
        wrapped is not original for wrapped, original in zip(originals(), before, strict=True)
    )
    telemetry.instrumentor.uninstrument()
    assert originals() == before
    CALLS["chat"](plain_client)
    assert telemetry.spans() == []


def test_only_the_clients_request_layer_is_wrapped(telemetry: Telemetry) -> None:
    assert all(hasattr(method, "__wrapped__") for method in originals())
    assert isinstance(vars(SyncAPIClient)["request"], wrapt.FunctionWrapper)
    assert isinstance(vars(AsyncAPIClient)["request"], wrapt.FunctionWrapper)
    # Resource methods stay the originals: every one of them reaches request().
    for resource in (Completions, AsyncCompletions, Embeddings):
        assert not isinstance(vars(resource)["create"], wrapt.FunctionWrapper)


def test_instrumenting_twice_is_harmless(
    telemetry: Telemetry, plain_client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        OrqInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    CALLS["chat"](plain_client)
    assert len(telemetry.spans()) == 1


def test_entry_point_is_registered_for_opentelemetry_instrument() -> None:
    entry_points = importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    (entry_point,) = [ep for ep in entry_points if ep.name == "orq"]
    assert entry_point.load() is OrqInstrumentor


def test_declares_supported_openai_versions() -> None:
    assert OrqInstrumentor().instrumentation_dependencies() == (f"openai >= {OLDEST_OPENAI}",)


@pytest.mark.usefixtures("uninstrumented")
def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="inject_host"):
        OrqInstrumentor().instrument(inject_host="orq.ai")


@pytest.mark.usefixtures("uninstrumented")
def test_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORQ_OTEL_RECORD_EMAIL", "maybe")
    with pytest.raises(ValueError, match="record_email"):
        OrqInstrumentor().instrument()


@pytest.mark.usefixtures("uninstrumented")
def test_unknown_propagate_field_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="nickname"):
        OrqInstrumentor().instrument(propagate_fields=["id", "nickname"])


def test_start_up_loads_only_the_wrapping() -> None:
    # Auto-instrumentation runs at every process start: the per-call machinery and the SDK
    # wait for the first call, the price data loads on a thread of its own
    # (benchmarks/startup.py and instructions.py --startup measure it).
    code = (
        "import sys, threading, openai, orq_otel\n"
        "orq_otel.OrqInstrumentor().instrument()\n"
        "loaded = sorted(sys.modules)\n"
        "from orq_otel._openai.prices import PRICES\n"
        "names = {thread.name for thread in threading.enumerate()}\n"
        "print(PRICES.ready or 'orq-otel-prices' in names, ' '.join(loaded))\n"
    )
    prices_loading, *loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert prices_loading == "True"
    assert "orq_otel._openai.patches" in loaded
    late = {"orq_otel._openai.call", "orq_otel._identity.model", "opentelemetry.sdk"}
    assert late.isdisjoint(loaded)


def test_calls_without_content_capture_load_none_of_it() -> None:
    # Content capture off (the default) must cost calls nothing, start-up included: the
    # recorder, the content models and the logs API stay unimported through a real call.
    code = (
        "import sys, orq_otel\n"
        "from orq_otel.testing import LocalOpenAIServer\n"
        "orq_otel.OrqInstrumentor().instrument()\n"
        "with LocalOpenAIServer() as server:\n"
        "    server.client().chat.completions.create(model='m', messages=[])\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "orq_otel._openai.call" in loaded  # the call was instrumented
    content = {"orq_otel._content.recorder", "orq_otel._content.chat", "opentelemetry._logs"}
    assert content.isdisjoint(loaded)


def test_a_failure_to_start_is_logged_once_and_calls_go_on(
    telemetry: Telemetry,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise ImportError("a broken install")

    monkeypatch.setattr("orq_otel._openai.instrumentor._instrumentation", broken)
    telemetry.instrument()
    with caplog.at_level(logging.ERROR, logger="orq_otel"):
        results = [CALLS["chat"](plain_client) for _ in range(2)]
    assert all(result.choices for result in results)
    assert telemetry.spans() == []
    assert len([r for r in caplog.records if "failed to start" in r.getMessage()]) == 1
