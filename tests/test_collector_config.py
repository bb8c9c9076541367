"""collector-config.yaml: its shape, its agreement with docker-compose and README, and the real
Collector (tools/otelcol) validating it as shipped and as docker-compose mounts it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from otel_stack import Unavailable, build, validate_collector_config

from orq_otel._names import PII_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
CONFIG: dict[str, Any] = yaml.safe_load((ROOT / "collector-config.yaml").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "docker-compose.yaml").read_text())
PIPELINES: dict[str, dict[str, list[str]]] = CONFIG["service"]["pipelines"]
ENV_DEFAULT = re.compile(r"\$\{env:([A-Z0-9_]+):-(.*)\}")


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
    assert drains
    assert all("prometheus" in spec["exporters"] for spec in drains)


def default_of(value: str) -> str:
    """The default of a `${env:NAME:-default}` value (the value itself when it has none)."""
    found = ENV_DEFAULT.fullmatch(value)
    return found.group(2) if found else value


def test_traces_fan_out_to_jaeger_and_orq() -> None:
    exporters = {name for spec in PIPELINES.values() for name in spec["exporters"]}
    assert {"otlp/jaeger", "otlphttp/orq"} <= exporters
    orq = CONFIG["exporters"]["otlphttp/orq"]
    assert default_of(orq["endpoint"]) == "https://api.orq.ai/v2/otel"
    assert orq["headers"]["Authorization"] == "Bearer ${env:ORQ_API_KEY}"


def test_only_endpoints_vary_with_the_environment() -> None:
    text = (ROOT / "collector-config.yaml").read_text()
    variables = set(re.findall(r"\$\{env:([A-Z0-9_]+)", text))
    endpoints = {name for name in variables if name.startswith("ORQ_COLLECTOR_")}
    assert variables == endpoints | {"ORQ_API_KEY"}
    assert len(endpoints) == 8


def _published(ports: list[str]) -> set[str]:
    """The container ports of compose `ports:` entries ("4318:4318", "127.0.0.1:4318:4318")."""
    return {entry.rsplit(":", 1)[-1] for entry in ports}


def test_ports_agree_between_collector_compose_and_readme() -> None:
    protocols = CONFIG["receivers"]["otlp"]["protocols"]
    collector_ports = {
        _port(default_of(protocols["grpc"]["endpoint"])),
        _port(default_of(protocols["http"]["endpoint"])),
        _port(default_of(CONFIG["exporters"]["prometheus"]["endpoint"])),
    }
    assert collector_ports <= _published(COMPOSE["services"]["otel-collector"]["ports"])
    jaeger_endpoint = default_of(CONFIG["exporters"]["otlp/jaeger"]["endpoint"])
    assert jaeger_endpoint.split(":")[0] in COMPOSE["services"]
    scrape = yaml.safe_load((ROOT / "examples" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    metrics_port = _port(default_of(CONFIG["exporters"]["prometheus"]["endpoint"]))
    assert targets == [f"otel-collector:{metrics_port}"]
    readme = (ROOT / "README.md").read_text()
    for port in ("4318", "16686", "9090"):
        assert re.search(rf"localhost:{port}\b", readme), port


def _port(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[1]


# The real Collector (tools/otelcol, built by tools/build.sh) loads the files.


@pytest.fixture(scope="module")
def otelcol() -> Path:
    try:
        return build("otelcol")["otelcol"]
    except Unavailable as reason:
        pytest.skip(str(reason))


@pytest.mark.integration
def test_the_real_collector_validates_the_shipped_config(otelcol: Path) -> None:
    result = validate_collector_config(otelcol, ROOT / "collector-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_the_real_collector_validates_the_config_docker_compose_mounts(otelcol: Path) -> None:
    service = COMPOSE["services"]["otel-collector"]
    (config_flag,) = [arg for arg in service["command"] if arg.startswith("--config=")]
    in_container = config_flag.removeprefix("--config=")
    mounted = {
        target: source
        for source, target, *_ in (volume.split(":") for volume in service["volumes"])
    }
    source = (ROOT / "examples" / mounted[in_container]).resolve()
    env = {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        for name, value in service.get("environment", {}).items()
    }
    result = validate_collector_config(otelcol, source, env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "wrong"),
    [
        (("processors", "attributes/pii", "actions", 0, "action"), "hsah"),
        (("connectors", "spanmetrics", "namespce"), "orq"),
        (("service", "pipelines", "traces", "exporters", 0), "otlp/jaegr"),
    ],
)
def test_the_real_collector_rejects_a_broken_config(
    otelcol: Path, tmp_path: Path, path: tuple[Any, ...], wrong: str
) -> None:
    """What the YAML shape tests above cannot see: misspelt options, values, wiring."""
    broken: Any = yaml.safe_load((ROOT / "collector-config.yaml").read_text())
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = wrong
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump(broken))
    result = validate_collector_config(otelcol, config)
    assert result.returncode != 0
