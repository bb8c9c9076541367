"""collector-config.yaml, docker-compose and README agree (Docker is not available here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orq_otel._names import PII_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
CONFIG: dict[str, Any] = yaml.safe_load((ROOT / "collector-config.yaml").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "docker-compose.yaml").read_text())
PIPELINES: dict[str, dict[str, list[str]]] = CONFIG["service"]["pipelines"]


def _defined(section: str) -> set[str]:
    return set(CONFIG.get(section) or {})


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_every_pipeline_names_only_defined_components(pipeline: str) -> None:
    spec = PIPELINES[pipeline]
    connectors = _defined("connectors")
    assert set(spec["receivers"]) <= _defined("receivers") | connectors
    assert set(spec.get("processors", [])) <= _defined("processors")
    assert set(spec["exporters"]) <= _defined("exporters") | connectors


def test_every_connector_is_fed_and_drained() -> None:
    for connector in _defined("connectors"):
        assert any(connector in spec["exporters"] for spec in PIPELINES.values())
        assert any(connector in spec["receivers"] for spec in PIPELINES.values())


def test_every_defined_component_is_used() -> None:
    used = {name for spec in PIPELINES.values() for names in spec.values() for name in names}
    for section in ("receivers", "processors", "exporters", "connectors"):
        assert _defined(section) <= used, section


@pytest.mark.parametrize("pipeline", [name for name in PIPELINES if name.startswith("traces")])
def test_pii_processor_runs_in_every_trace_pipeline_before_export(pipeline: str) -> None:
    processors = PIPELINES[pipeline]["processors"]
    assert "attributes/pii" in processors
    assert processors[0] == "memory_limiter"
    assert processors[-1] == "batch"


def test_pii_processor_covers_every_pii_attribute_we_emit() -> None:
    actions = CONFIG["processors"]["attributes/pii"]["actions"]
    protected = {action["key"] for action in actions if action["action"] in ("hash", "delete")}
    assert {*PII_ATTRIBUTES, "user.email"} <= protected


def test_spanmetrics_has_identity_and_model_dimensions_and_feeds_prometheus() -> None:
    dimensions = {d["name"] for d in CONFIG["connectors"]["spanmetrics"]["dimensions"]}
    assert {"orq.identity.id", "gen_ai.request.model"} <= dimensions
    drains = [spec for spec in PIPELINES.values() if "spanmetrics" in spec["receivers"]]
    assert all("prometheus" in spec["exporters"] for spec in drains)


def test_traces_fan_out_to_jaeger_and_orq() -> None:
    exporters = {name for spec in PIPELINES.values() for name in spec["exporters"]}
    assert {"otlp/jaeger", "otlphttp/orq"} <= exporters
    orq = CONFIG["exporters"]["otlphttp/orq"]
    assert orq["endpoint"] == "https://api.orq.ai/v2/otel"
    assert orq["headers"]["Authorization"] == "Bearer ${env:ORQ_API_KEY}"


def _port(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[1]


def test_ports_agree_between_collector_compose_and_readme() -> None:
    protocols = CONFIG["receivers"]["otlp"]["protocols"]
    collector_ports = {
        _port(protocols["grpc"]["endpoint"]),
        _port(protocols["http"]["endpoint"]),
        _port(CONFIG["exporters"]["prometheus"]["endpoint"]),
    }
    published = {p.split(":")[1] for p in COMPOSE["services"]["otel-collector"]["ports"]}
    assert collector_ports == published
    jaeger_endpoint = CONFIG["exporters"]["otlp/jaeger"]["endpoint"]
    assert jaeger_endpoint.split(":")[0] in COMPOSE["services"]
    scrape = yaml.safe_load((ROOT / "examples" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"otel-collector:{_port(CONFIG['exporters']['prometheus']['endpoint'])}"]
    readme = (ROOT / "README.md").read_text()
    for port in ("4318", "16686", "9090"):
        assert re.search(rf"localhost:{port}\b", readme), port
