"""Options of orq_otel: keyword arguments win, `ORQ_OTEL_*` variables are the fallback.

Options are parsed once (when `instrument()` runs, or on first use without it) into a
frozen `Settings`; the per-call path only reads attributes of that object.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT

from orq_otel._config_content import CONTENT_NORMALISERS
from orq_otel._names import IDENTITY_ID

IDENTITY_FIELDS = ("id", "display_name", "email", "metadata", "logo_url", "tags")
DEFAULT_PROPAGATE_FIELDS = ("id", "display_name", "tags", "metadata")
DEFAULT_INJECT_HOSTS = ("orq.ai",)
# Attributes of metric points that `metric_attributes` may leave out (the operation name
# and the token type always stay: without them a point means nothing).
OPTIONAL_METRIC_ATTRIBUTES = (
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    SERVER_ADDRESS,
    SERVER_PORT,
    ERROR_TYPE,
    IDENTITY_ID,
)
# Where identity and thread baggage may travel: names that only resolve inside a network.
# "single-label" stands for any host name without a dot ("worker" in Docker Compose).
DEFAULT_PROPAGATE_TO = ("localhost", "single-label", ".internal", ".local", ".svc",
                        ".cluster.local", "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12",
                        "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10")  # fmt: skip

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


IdentityResolver = Callable[[str], Any]  # id -> Identity | Mapping | None, or an awaitable


class Settings(NamedTuple):
    """Every option, resolved (a NamedTuple: a dataclass this size takes milliseconds to
    define at `import orq_otel`, which auto-instrumentation adds to every process)."""

    inject_hosts: tuple[str, ...] = DEFAULT_INJECT_HOSTS
    propagate_fields: tuple[str, ...] = DEFAULT_PROPAGATE_FIELDS
    record_email: bool = False
    metric_identity: bool = True
    # The first this many identities get metric series of their own (metric_attributes.py).
    metric_identity_limit: int = 500
    metric_attributes: tuple[str, ...] = OPTIONAL_METRIC_ATTRIBUTES
    # Signing: the first secret signs, all verify. Kept out of repr (below).
    identity_secret: tuple[str, ...] = ()
    identity_signature_ttl: float = 600.0
    identity_clock_skew: float = 30.0
    identity_resolver: IdentityResolver | None = None
    identity_resolver_ttl: float = 300.0
    identity_resolver_cache_size: int = 10_000
    identity_resolver_timeout: float = 2.0
    propagate_to: tuple[str, ...] = DEFAULT_PROPAGATE_TO
    # None: decided by setup() (on when it exports to orq.ai), otherwise off.
    link_router_trace: bool | None = None
    # Model name -> USD per million tokens, or (provider, model, usage) -> USD | None.
    model_prices: Any = None
    # Content capture (orq_otel._content). None: the standard variable decides.
    capture_content: str | None = None
    content_policy: Callable[..., Any] | None = None  # (identity, call) -> mode | None
    content_redactor: Callable[..., Any] | None = None  # (content, identity) -> content | None
    content_consent_required: bool = False  # record only for identities that consented
    content_redact_identity: bool = True  # the identity's email and name become placeholders
    content_max_length: int = 16_384  # characters per text part
    content_max_bytes: int = 65_536  # bytes per content attribute (valid JSON)
    content_blobs: str = "omit"  # "omit": inline base64 left out (type, size kept); "inline"
    completion_hook: Any = None  # an opentelemetry-util-genai CompletionHook

    def __repr__(self) -> str:  # settings get logged: the secret never shows
        shown = (
            f"{k}={'<hidden>' if k == 'identity_secret' else repr(v)}"
            for k, v in self._asdict().items()
        )
        return f"Settings({', '.join(shown)})"


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {text!r}")


def _as_tuple(name: str, value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return _split_list(value)
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise TypeError(f"{name} must be a comma-separated string or a list of strings")
    return items


def _normalise_hosts(value: str | Iterable[str]) -> tuple[str, ...]:
    return tuple(host.strip().lower().strip(".") for host in _as_tuple("inject_hosts", value))


def _normalise_fields(value: str | Iterable[str]) -> tuple[str, ...]:
    names = _as_tuple("propagate_fields", value)
    unknown = [name for name in names if name not in IDENTITY_FIELDS]
    if unknown:
        raise ValueError(
            f"propagate_fields has unknown field(s) {unknown}; choose from {list(IDENTITY_FIELDS)}"
        )
    # The id is what every downstream service keys on: it always travels.
    return ("id", *(name for name in names if name != "id"))


def _number(name: str, kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a positive number, not {value!r}") from None
        if isinstance(value, bool) or number <= 0:
            raise ValueError(f"{name} must be a positive number, not {value!r}")
        return number

    return parse


def _normalise_metric_attributes(value: str | Iterable[str]) -> tuple[str, ...]:
    names = _as_tuple("metric_attributes", value)
    unknown = [name for name in names if name not in OPTIONAL_METRIC_ATTRIBUTES]
    if unknown:
        raise ValueError(
            f"metric_attributes has unknown attribute(s) {unknown}; choose from "
            f"{list(OPTIONAL_METRIC_ATTRIBUTES)}"
        )
    return names


def _normalise_secrets(value: str | Iterable[str]) -> tuple[str, ...]:
    """One secret, or a list of them (the first signs): a secret is never split."""
    secrets = _as_tuple("identity_secret", [value] if isinstance(value, str) else value)
    if not secrets or not all(secret.strip() for secret in secrets):
        # Set but empty would mean unsigned baggage is trusted without a word.
        raise ValueError("identity_secret is set but empty; unset it, or give a secret")
    if any(len(secret) < 16 for secret in secrets):
        raise ValueError("identity_secret: each secret must be at least 16 characters")
    return secrets


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _normalise_destinations(value: str | Iterable[str]) -> tuple[str, ...]:
    """Host patterns; "default" stands for the default list, so that it can be extended."""
    entries: list[str] = []
    for given in _as_tuple("propagate_to", value):
        entry = given.strip().lower().rstrip(".")
        if entry == "default":
            entries.extend(DEFAULT_PROPAGATE_TO)
            continue
        if not _is_network(entry) and ("/" in entry or not entry or " " in entry):
            raise ValueError(
                f"propagate_to: {entry!r} is not a host name, an IP address or a network"
            )
        entries.append(entry)
    return tuple(entries)


def _normalise_prices(value: Any) -> Any:
    if callable(value):
        return value
    if not isinstance(value, Mapping) or not all(
        isinstance(prices, Mapping) and "input" in prices for prices in value.values()
    ):
        raise TypeError(
            "model_prices must map model names to USD per million tokens "
            '({"my-model": {"input": 0.5, "output": 1.5, "cache_read": 0.05}}) or be a callable'
        )
    return value


def _normalise_resolver(value: Any) -> IdentityResolver:
    if not callable(value):
        raise TypeError("identity_resolver must be a callable taking an identity id")
    return value  # type: ignore[no-any-return]


_NORMALISERS: Mapping[str, Callable[[Any], Any]] = {
    **CONTENT_NORMALISERS,
    "inject_hosts": _normalise_hosts,
    "propagate_fields": _normalise_fields,
    "identity_secret": _normalise_secrets,
    "metric_identity_limit": _number("metric_identity_limit", int),
    "metric_attributes": _normalise_metric_attributes,
    "propagate_to": _normalise_destinations,
    "identity_signature_ttl": _number("identity_signature_ttl", float),
    "identity_clock_skew": _number("identity_clock_skew", float),
    "identity_resolver": _normalise_resolver,
    "identity_resolver_ttl": _number("identity_resolver_ttl", float),
    "identity_resolver_cache_size": _number("identity_resolver_cache_size", int),
    "identity_resolver_timeout": _number("identity_resolver_timeout", float),
    "model_prices": _normalise_prices,
    "record_email": lambda value: (
        value if isinstance(value, bool) else _parse_bool("record_email", str(value))
    ),
    "metric_identity": lambda value: (
        value if isinstance(value, bool) else _parse_bool("metric_identity", str(value))
    ),
    "link_router_trace": lambda value: (
        value if isinstance(value, bool) else _parse_bool("link_router_trace", str(value))
    ),
}


# A callable cannot come from the environment.
_NO_ENVIRONMENT = frozenset(
    {"identity_resolver", "model_prices", "content_policy", "content_redactor", "completion_hook"}
)
# Variables that hold a list: comma-separated (so a secret in the environment has no comma).
_ENVIRONMENT_LISTS = frozenset({"identity_secret"})


def _env_name(option: str) -> str:
    return "ORQ_OTEL_" + option.upper()


def load_settings(
    options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every option: keyword argument, else `ORQ_OTEL_<OPTION>`, else the default."""
    options = dict(options or {})
    environ = os.environ if environ is None else environ
    known = set(Settings._fields)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown orq_otel option(s) {unknown}; known options are {sorted(known)}")
    resolved: dict[str, Any] = {}
    for name in known:
        if name in options and options[name] is not None:
            resolved[name] = _NORMALISERS[name](options[name])
        elif name not in _NO_ENVIRONMENT and _env_name(name) in environ:
            resolved[name] = _from_environment(name, environ[_env_name(name)])
    return Settings(**resolved)


def _from_environment(name: str, text: str) -> Any:
    if name not in _ENVIRONMENT_LISTS:
        return _NORMALISERS[name](text)
    items = _split_list(text)
    if not items:  # set but empty (`""`, `" , "`): a mistake, not "off"
        raise ValueError(f"{_env_name(name)} is set but empty; unset it, or give a value")
    return _NORMALISERS[name](items)


class _SettingsHolder:
    """The settings in force: from the environment until `instrument()` installs its own."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def get(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def set(self, settings: Settings | None) -> None:
        self._settings = settings


current_settings = _SettingsHolder()
