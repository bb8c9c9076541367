from __future__ import annotations

from collections.abc import Iterator

import pytest

from orq_otel._config import current_settings
from orq_otel._log import reset_once_logs


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test sees warnings as if for the first time and the default settings."""
    reset_once_logs()
    current_settings.set(None)
    yield
    current_settings.set(None)
