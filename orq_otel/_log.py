"""Logging that says a thing once: a bad header on every request must not flood the log.

A "kind" names what went wrong, never the input that did it: kinds are a small fixed set
in our code, and the set of kinds seen is bounded all the same, so that a caller sending
new garbage on every request can grow neither the log nor the memory. Arguments that are
text have their control characters escaped: a log line is one line.

It is also the boundary where our failures stop: `guarded` logic logs once and lets the
call go on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

logger = logging.getLogger("orq_otel")

# More distinct kinds than our code has: past it, new kinds are counted, not logged.
MAX_KINDS = 256
_OVERFLOW = "\x00overflow"

_seen: set[str] = set()
_seen_lock = threading.Lock()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _first_time(kind: str) -> bool:
    with _seen_lock:
        if kind in _seen:
            return False
        if len(_seen) >= MAX_KINDS:
            if _OVERFLOW in _seen:
                return False
            _seen.add(_OVERFLOW)
            logger.warning("orq_otel: too many kinds of warnings; further ones are not logged")
            return False
        _seen.add(kind)
        return True


def _escaped(argument: object) -> object:
    if isinstance(argument, str):
        return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", argument)
    return argument


def warn_once(kind: str, message: str, *args: object) -> None:
    """Log a warning the first time `kind` happens in this process."""
    if kind not in _seen and _first_time(kind):
        logger.warning(message + " (logged once)", *map(_escaped, args))


def exception_once(kind: str, message: str, *args: object) -> None:
    """Log the current exception with its traceback the first time `kind` happens."""
    if kind not in _seen and _first_time(kind):
        logger.exception(message + " (logged once)", *map(_escaped, args))


def reset_once_logs() -> None:
    """Forget which warnings were logged (for tests). Warnings are never made inside a
    cache, so this is all it takes for each of them to be logged again."""
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
