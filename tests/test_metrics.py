"""gen_ai.client.token.usage and gen_ai.client.operation.duration, with the identity."""

from __future__ import annotations

import logging

import openai
import pytest
from conftest import CALLS, PROMPT_TOKENS, REPLY_TOKENS, Telemetry
from opentelemetry.sdk.metrics.export import NumberDataPoint

from orq_otel import use_identity

TOKENS = "gen_ai.client.token.usage"
DURATION = "gen_ai.client.operation.duration"


def test_token_usage_is_recorded_per_token_type_with_identity(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="user-1", display_name="Ada"):
        CALLS["chat"](orq_client)
    points = {dict(p.attributes or {})["gen_ai.token.type"]: p for p in telemetry.points(TOKENS)}
    assert set(points) == {"input", "output"}
    assert points["input"].sum == PROMPT_TOKENS
    assert points["output"].sum == REPLY_TOKENS
    attributes = dict(points["input"].attributes or {})
    assert attributes["orq.identity.id"] == "user-1"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "orq"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-0001"
    assert attributes["server.address"] == "api.orq.ai"
    assert "orq.identity.display_name" not in attributes  # metrics stay low-cardinality


# The boundaries the GenAI semantic conventions advise (gen-ai-metrics.md, "Metric:
# gen_ai.client.token.usage" and "gen_ai.client.operation.duration"), written out here so
# that a wrong constant in the code cannot pass by being compared with itself.
SEMCONV_TOKEN_BOUNDARIES = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                            4194304, 16777216, 67108864)  # fmt: skip
SEMCONV_DURATION_BOUNDARIES = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12,
                               10.24, 20.48, 40.96, 81.92)  # fmt: skip


def test_histograms_use_the_semantic_convention_buckets(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    CALLS["chat"](orq_client)
    assert tuple(telemetry.points(TOKENS)[0].explicit_bounds) == SEMCONV_TOKEN_BOUNDARIES
    assert tuple(telemetry.points(DURATION)[0].explicit_bounds) == SEMCONV_DURATION_BOUNDARIES


def test_duration_is_recorded_once_per_call(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="a"):
        CALLS["chat"](orq_client)
        CALLS["embeddings"](orq_client)
    points = telemetry.points(DURATION)
    assert sum(point.count for point in points) == 2
    assert all(point.sum > 0 for point in points)
    assert {dict(p.attributes or {})["gen_ai.operation.name"] for p in points} == {
        "chat",
        "embeddings",
    }


def test_metrics_are_split_by_identity(telemetry: Telemetry, orq_client: openai.OpenAI) -> None:
    for user in ("a", "b", "b"):
        with use_identity(id=user):
            CALLS["chat"](orq_client)
    counts = {
        dict(p.attributes or {})["orq.identity.id"]: p.count for p in telemetry.points(DURATION)
    }
    assert counts == {"a": 1, "b": 2}


def test_metric_identity_off_leaves_identity_out_of_metrics(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    telemetry.instrument(metric_identity=False)
    with use_identity(id="user-1"):
        CALLS["chat"](orq_client)
    for point in telemetry.points(TOKENS) + telemetry.points(DURATION):
        assert "orq.identity.id" not in dict(point.attributes or {})
    assert (telemetry.only_span().attributes or {})["orq.identity.id"] == "user-1"


def test_metric_identity_from_environment(
    telemetry: Telemetry, orq_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_METRIC_IDENTITY", "false")
    telemetry.instrument()
    with use_identity(id="user-1"):
        CALLS["chat"](orq_client)
    assert "orq.identity.id" not in dict(telemetry.points(DURATION)[0].attributes or {})


def test_failed_call_duration_carries_error_type(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with pytest.raises(openai.InternalServerError):
        orq_client.chat.completions.create(model="error-500", messages=[])
    (point,) = telemetry.points(DURATION)
    assert dict(point.attributes or {})["error.type"] == "InternalServerError"
    assert telemetry.points(TOKENS) == []


def test_streamed_call_records_tokens_when_the_stream_ends(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    stream = CALLS["chat"](orq_client, stream=True)
    assert telemetry.points(TOKENS) == []
    list(stream)
    assert {p.sum for p in telemetry.points(TOKENS)} == {PROMPT_TOKENS, REPLY_TOKENS}


# --- cardinality ---------------------------------------------------------------------


def counter_total(telemetry: Telemetry, name: str) -> float:
    data = telemetry.metric_reader.get_metrics_data()
    return sum(
        point.value
        for resource_metrics in (data.resource_metrics if data else [])
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    )


def test_identities_past_the_limit_share_the_overflow_value_visibly(
    telemetry: Telemetry, orq_client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry.instrument(metric_identity_limit=2)
    with caplog.at_level(logging.WARNING, logger="orq_otel"):
        for user in ("a", "b", "c", "d", "a", "d"):
            with use_identity(id=user):
                CALLS["chat"](orq_client)
    counts = {
        dict(p.attributes or {})["orq.identity.id"]: p.count for p in telemetry.points(DURATION)
    }
    assert counts == {"a": 2, "b": 1, "_other": 3}
    assert counter_total(telemetry, "orq.identity.overflow") == 3
    assert len([r for r in caplog.records if "metric_identity_limit" in r.getMessage()]) == 1
    spans = telemetry.spans()
    assert spans[2].attributes["orq.identity.id"] == "c"  # type: ignore[index]  # spans keep it


def test_metric_attributes_choose_what_points_carry(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    telemetry.instrument(metric_attributes=["gen_ai.request.model", "orq.identity.id"])
    with use_identity(id="u"):
        CALLS["chat"](orq_client)
    for point in telemetry.points(TOKENS) + telemetry.points(DURATION):
        keys = set(dict(point.attributes or {}))
        assert keys - {"gen_ai.token.type"} == {
            "gen_ai.operation.name",
            "gen_ai.request.model",
            "orq.identity.id",
        }
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["server.address"] == "api.orq.ai"  # spans keep everything
    cost = (telemetry.only_span().attributes or {})["orq.cost.usd"]
    assert isinstance(cost, float)
    assert cost > 0  # priced all the same


def test_metric_attributes_from_environment_and_unknown_names(
    telemetry: Telemetry, orq_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_OTEL_METRIC_ATTRIBUTES", "gen_ai.request.model")
    telemetry.instrument()
    CALLS["chat"](orq_client)
    keys = set(dict(telemetry.points(DURATION)[0].attributes or {}))
    assert keys == {"gen_ai.operation.name", "gen_ai.request.model"}
    with pytest.raises(ValueError, match=r"gen_ai\.prompt"):
        telemetry.instrument(metric_attributes=["gen_ai.prompt"])
