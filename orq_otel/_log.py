"""Logging that says a thing once: a bad header on every request must not flood the log."""

from __future__ import annotations

import logging
import threading

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
