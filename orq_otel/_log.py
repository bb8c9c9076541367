"""Logging that says a thing once (a bad header on every request must not flood the log),
and the boundary where our failures stop: `guarded` logic logs once and lets the call go on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

logger = logging.getLogger("orq_otel")

_seen: set[str] = set()
_seen_lock = threading.Lock()


def _first_time(kind: str) -> bool:
    with _seen_lock:
        if kind in _seen:
            return False
        _seen.add(kind)
        return True


def warn_once(kind: str, message: str, *args: object) -> None:
    """Log a warning the first time `kind` happens in this process."""
    if kind not in _seen and _first_time(kind):
        logger.warning(message + " (logged once)", *args)


def exception_once(kind: str, message: str, *args: object) -> None:
    """Log the current exception with its traceback the first time `kind` happens."""
    if kind not in _seen and _first_time(kind):
        logger.exception(message + " (logged once)", *args)


def reset_once_logs() -> None:
    """Forget which warnings were logged (for tests)."""
    with _seen_lock:
        _seen.clear()


# --- the boundary where our failures stop ---------------------------------------------

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Self = TypeVar("_Self")
_Value = TypeVar("_Value")


def _log_failure(method: Callable[..., Any]) -> None:
    name = method.__qualname__
    exception_once(f"internal:{name}", "orq_otel failed in %s; the call goes on without it", name)


def guarded(fallback: _R) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Run our logic; if it fails, log once and return `fallback` (a named, typed constant)."""

    def decorate(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @wraps(method)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the boundary where our failures stop
                _log_failure(method)
                return fallback

        return run

    return decorate


def guarded_async(
    fallback: _R,
) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Coroutine[Any, Any, _R]]]:
    """`guarded` for a coroutine function."""

    def decorate(method: Callable[_P, Awaitable[_R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
        @wraps(method)
        async def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return await method(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the boundary where our failures stop
                _log_failure(method)
                return fallback

        return run

    return decorate


def guarded_pass_through(
    method: Callable[Concatenate[_Self, _Value, _P], _Value],
) -> Callable[Concatenate[_Self, _Value, _P], _Value]:
    """`guarded` for a method that hands on a value: if it fails, the value goes on as given."""

    @wraps(method)
    def run(self: _Self, value: _Value, /, *args: _P.args, **kwargs: _P.kwargs) -> _Value:
        try:
            return method(self, value, *args, **kwargs)
        except Exception:  # noqa: BLE001 - the boundary where our failures stop
            _log_failure(method)
            return value

    return run
