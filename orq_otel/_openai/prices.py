"""genai-prices' price data, loaded once per process on a daemon thread, never on a call,
and only once the first call has ended.

genai-prices builds its data when first used: about 170 million instructions (tens of
milliseconds). `instrument()` starts the thread that loads it here (`prepare_prices`);
this module is light on purpose, so that importing it at start-up loads nothing else.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from orq_otel._log import exception_once

__all__ = ["PRICES", "PriceData", "prepare_prices", "wait_for_prices"]


# _LAZY: genai-prices loads its price data when imported; it is imported on the
# `PriceData` thread, so that neither `import orq_otel` nor any call waits for it.
def _load_genai_prices() -> None:
    """Import genai-prices and build its price data (one lookup builds the snapshot)."""
    from genai_prices import Usage as PricesUsage  # noqa: PLC0415 - see _LAZY
    from genai_prices import calc_price  # noqa: PLC0415

    # A data release without that model raises LookupError: the data is loaded anyway.
    with contextlib.suppress(LookupError):
        calc_price(PricesUsage(input_tokens=1), "gpt-4o-mini", provider_id="openai")


class PriceData:
    """genai-prices' data, loaded once per process on a daemon thread, never on a call.

    The thread starts at `instrument()` and waits for the first call to end (`go`) before
    it loads: loading holds the GIL for tens of milliseconds, which a cold process's first
    call would otherwise share, and so answer later.
    """

    def __init__(self, load: Callable[[], None] = _load_genai_prices) -> None:
        self._load = load
        self._ready = threading.Event()
        self._go = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def prepare(self) -> None:
        """Start loading, unless started already (cheap: called on unpriced calls too)."""
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name="orq-otel-prices", daemon=True).start()

    def call_ended(self) -> None:
        """A call has ended: load now (every call's end asks; cheap once asked)."""
        if self._started and self._go.is_set():
            return
        try:
            self.prepare()  # after a fork, say: the parent's thread is gone
        except Exception:  # noqa: BLE001 - no thread to be had: calls go on unpriced
            exception_once("prices-thread", "orq_otel could not start loading price data")
        self._go.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Start loading if need be and wait until done; False on timeout."""
        self.call_ended()
        return self._ready.wait(timeout)

    def _run(self) -> None:
        try:
            self._go.wait()
            self._load()
        except Exception:  # noqa: BLE001 - a daemon thread's failure must be seen once
            exception_once("prices", "orq_otel could not load genai-prices' price data")
        finally:
            self._ready.set()  # a failed load is not retried: lookups then fail, logged once

    def after_fork(self) -> None:
        """In a forked child, a load in progress died with the parent's thread: restart."""
        if not self.ready:  # the next call's end starts it again
            self._ready, self._lock, self._started = threading.Event(), threading.Lock(), False
            self._go = threading.Event()


PRICES = PriceData()


def _after_fork() -> None:
    PRICES.after_fork()


os.register_at_fork(after_in_child=_after_fork)


def prepare_prices() -> None:
    """Start loading genai-prices' data in the background (called by `instrument()`)."""
    PRICES.prepare()


def wait_for_prices(timeout: float | None = None) -> bool:
    """Wait until genai-prices' data is loaded (for benchmarks and tests); False on timeout."""
    return PRICES.wait(timeout)
