"""Cost per call in USD, checked against genai-prices itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from conftest import (
    CACHED_TOKENS,
    CALLS,
    MESSAGES,
    OPENAI_HTTP,
    PROMPT_TOKENS,
    REPLY_TOKENS,
    Telemetry,
)
from genai_prices import Usage as PricesUsage
from genai_prices import calc_price
from opentelemetry.sdk.metrics.export import NumberDataPoint

from orq_otel import use_identity
from orq_otel._openai import prices
from orq_otel._openai.attributes import Usage
from orq_otel._openai.cost import PRICE_CACHE_SIZE, CostCalculator
from orq_otel._openai.prices import PriceData, wait_for_prices

INPUT, OUTPUT = PROMPT_TOKENS, REPLY_TOKENS  # what the local server reports for a call


@pytest.fixture(autouse=True)
def _price_data_loaded() -> None:
    """genai-prices' data loads in the background; these tests price with it."""
    assert wait_for_prices(60)


def genai_price(model: str, usage: Usage, provider: str | None = "openai") -> float:
    prices_usage = PricesUsage(
        input_tokens=usage.input_tokens or 0,
        cache_read_tokens=usage.cached_input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
    )
    return float(calc_price(prices_usage, model, provider_id=provider).total_price)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1",
        "o3-mini",
        "text-embedding-3-small",
    ],
)
@pytest.mark.parametrize("cached", [0, 400])
def test_cost_matches_genai_prices(model: str, cached: int) -> None:
    usage = Usage(input_tokens=1200, output_tokens=350, cached_input_tokens=cached)
    cost = CostCalculator().cost("openai", (model,), usage)
    assert cost == pytest.approx(genai_price(model, usage), rel=1e-9)


def test_router_model_names_name_their_provider() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=200)
    expected = genai_price("claude-3-5-sonnet-latest", usage, provider="anthropic")
    assert CostCalculator().cost(
        "orq", ("anthropic/claude-3-5-sonnet-latest",), usage
    ) == pytest.approx(expected)


def test_unknown_model_has_no_cost_and_logs_once_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    calculator = CostCalculator()
    with caplog.at_level(logging.DEBUG, logger="orq_otel"):
        for _ in range(3):
            assert calculator.cost("openai", ("my-finetune-xyz",), Usage(10, 10)) is None
    assert len([r for r in caplog.records if "my-finetune-xyz" in r.getMessage()]) == 1


def test_price_table_option_adds_and_overrides_models() -> None:
    calculator = CostCalculator({"my-model": {"input": 2.0, "output": 6.0, "cache_read": 0.5}})
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_input_tokens=200_000)
    assert calculator.cost(None, ("my-model",), usage) == pytest.approx(
        0.8 * 2.0 + 0.2 * 0.5 + 0.5 * 6.0
    )


def test_price_callable_option_wins_and_can_defer_to_genai_prices() -> None:
    def prices(provider: str | None, model: str, usage: Usage) -> float | None:
        return 1.25 if model == "internal-llm" else None

    calculator = CostCalculator(prices)
    usage = Usage(input_tokens=100, output_tokens=10)
    assert calculator.cost("openai", ("internal-llm",), usage) == 1.25
    assert calculator.cost("openai", ("gpt-4o",), usage) == pytest.approx(
        genai_price("gpt-4o", usage)
    )


def cost_points(telemetry: Telemetry) -> list[NumberDataPoint]:
    data = telemetry.metric_reader.get_metrics_data()
    points: list[NumberDataPoint] = []
    for resource_metrics in data.resource_metrics if data else []:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "orq.client.cost":
                    points += [p for p in metric.data.data_points if isinstance(p, NumberDataPoint)]
    return points


@pytest.mark.parametrize(
    ("endpoint", "stream"),
    [("chat", False), ("chat", True), ("responses", False), ("responses", True)],
)
def test_calls_record_cost_on_span_and_metric(
    telemetry: Telemetry, orq_client: openai.OpenAI, endpoint: str, stream: bool
) -> None:
    kwargs: dict[str, Any] = {"stream": True} if stream else {}
    with use_identity(id="user-ada"):
        result = CALLS[endpoint](orq_client, **kwargs)
        if stream:
            list(result)
    usage = Usage(input_tokens=INPUT, output_tokens=OUTPUT, cached_input_tokens=CACHED_TOKENS)
    expected = genai_price("gpt-4o-mini", usage)  # the local server's snapshot name is unknown
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["orq.cost.usd"] == pytest.approx(expected)
    (point,) = cost_points(telemetry)
    assert point.value == pytest.approx(expected)
    assert dict(point.attributes or {})["orq.identity.id"] == "user-ada"
    assert dict(point.attributes or {})["gen_ai.request.model"] == "gpt-4o-mini"


def test_unknown_model_call_has_no_cost_attribute(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    orq_client.chat.completions.create(model="my-finetune-xyz", messages=MESSAGES)
    assert "orq.cost.usd" not in (telemetry.only_span().attributes or {})
    assert cost_points(telemetry) == []


def test_model_prices_option_through_instrument(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    telemetry.instrument(model_prices={"my-finetune-xyz": {"input": 1.0, "output": 2.0}})
    orq_client.chat.completions.create(model="my-finetune-xyz", messages=MESSAGES)
    expected = (INPUT * 1.0 + OUTPUT * 2.0) / 1_000_000  # no cache price given: input price
    assert (telemetry.only_span().attributes or {})["orq.cost.usd"] == pytest.approx(expected)


def test_bad_model_prices_option_is_a_clear_error(telemetry: Telemetry) -> None:
    with pytest.raises(TypeError, match="USD per million tokens"):
        telemetry.instrument(model_prices={"my-model": 0.5})


def test_a_failing_price_lookup_never_leaves_a_span_open(
    telemetry: Telemetry,
    orq_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> float:
        raise ModuleNotFoundError("No module named 'genai_prices'")

    monkeypatch.setattr(CostCalculator, "cost", broken)
    with caplog.at_level(logging.ERROR, logger="orq_otel"):
        result = CALLS["chat"](orq_client)
        CALLS["chat"](orq_client)
    assert result.choices[0].message.content
    spans = telemetry.spans()
    assert len(spans) == 2  # both ended, without a cost
    assert all("orq.cost.usd" not in (span.attributes or {}) for span in spans)
    assert len([r for r in caplog.records if "orq_otel failed" in r.getMessage()]) == 1


@pytest.mark.parametrize("client", ["orq_client", "plain_client"])
def test_bare_openai_embedding_names_are_priced_on_every_host(
    telemetry: Telemetry, request: pytest.FixtureRequest, client: str
) -> None:
    CALLS["embeddings"](request.getfixturevalue(client))
    expected = genai_price("text-embedding-3-small", Usage(input_tokens=INPUT))
    assert (telemetry.only_span().attributes or {})["orq.cost.usd"] == pytest.approx(expected)


def test_the_price_cache_is_bounded() -> None:
    calculator = CostCalculator()
    usage = Usage(input_tokens=10, output_tokens=5)
    for number in range(PRICE_CACHE_SIZE + 50):
        calculator.cost("openai", (f"my-model-{number}",), usage)
    assert len(calculator._cache) == PRICE_CACHE_SIZE


@pytest.fixture
def held_price_data(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """genai-prices' data still loading until the returned event is set."""
    release = threading.Event()

    def slow_load() -> None:
        release.wait(30)

    monkeypatch.setattr(prices, "PRICES", PriceData(slow_load))
    yield release
    release.set()


def test_a_call_never_waits_for_price_data_and_is_priced_once_it_is_loaded(
    telemetry: Telemetry, orq_client: openai.OpenAI, held_price_data: threading.Event
) -> None:
    # The per-call machinery is built on the first call: with the held data.
    with use_identity(id="user-ada"):
        result = CALLS["chat"](orq_client)
        assert result.choices[0].message.content  # answered while the data is still loading
        assert not prices.PRICES.ready
        assert "orq.cost.usd" not in (telemetry.only_span().attributes or {})
        assert cost_points(telemetry) == []

        held_price_data.set()
        assert prices.PRICES.wait(30)
        CALLS["chat"](orq_client)
    usage = Usage(input_tokens=INPUT, output_tokens=OUTPUT, cached_input_tokens=CACHED_TOKENS)
    expected = genai_price("gpt-4o-mini", usage)
    priced = telemetry.spans()[-1]
    assert (priced.attributes or {})["orq.cost.usd"] == pytest.approx(expected)
    (point,) = cost_points(telemetry)
    assert point.value == pytest.approx(expected)  # the second call's cost only


def test_model_prices_apply_while_price_data_loads(
    telemetry: Telemetry, orq_client: openai.OpenAI, held_price_data: threading.Event
) -> None:
    telemetry.instrument(model_prices={"my-finetune-xyz": {"input": 1.0, "output": 2.0}})
    orq_client.chat.completions.create(model="my-finetune-xyz", messages=MESSAGES)
    assert not prices.PRICES.ready
    expected = (INPUT * 1.0 + OUTPUT * 2.0) / 1_000_000
    assert (telemetry.only_span().attributes or {})["orq.cost.usd"] == pytest.approx(expected)


def test_price_data_that_fails_to_load_is_logged_once_and_calls_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'genai_prices'")

    failing = PriceData(broken)
    with caplog.at_level(logging.ERROR, logger="orq_otel"):
        assert failing.wait(30)  # done, not hanging: calls are priced as far as possible
    assert [r.getMessage() for r in caplog.records] == [
        "orq_otel could not load genai-prices' price data (logged once)"
    ]


def test_price_data_loads_only_once_the_first_call_has_ended(
    telemetry: Telemetry, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading holds the GIL for tens of milliseconds: a cold process's first call must not
    # share it. A transport that gives the loader half a second while the call is sent.
    loading = threading.Event()
    monkeypatch.setattr(prices, "PRICES", PriceData(loading.set))
    telemetry.instrument()
    seen_while_sending: list[bool] = []

    class WatchingTransport(OPENAI_HTTP.HTTPTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            seen_while_sending.append(loading.wait(0.5))
            return super().handle_request(request)

    client = openai.OpenAI(
        api_key="local-test-key",
        base_url=server.url,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=WatchingTransport()),
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert seen_while_sending == [False]
    assert loading.wait(30)  # started by the end of that call, without anyone waiting
