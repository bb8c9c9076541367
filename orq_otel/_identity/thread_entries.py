"""The thread's entries in W3C baggage: ``orq.thread.id`` (or ``orq.thread.id.b64``) and
``orq.thread.tags``, by the identity's rules (`identity_entries`, `baggage`), signed alike."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from opentelemetry.context import Context
from pydantic import ValidationError

from orq_otel._config import Settings
from orq_otel._identity.baggage import (
    Group,
    bound_entries,
    cacheable,
    group_entries,
    id_entry,
    read_id,
    trusted,
    write_group,
)
from orq_otel._identity.keys import IDENTITY_PREFIX, THREAD_PREFIX
from orq_otel._identity.last_read import LastBaggageRead
from orq_otel._identity.model import Thread
from orq_otel._identity.values import describe
from orq_otel._identity.wire import decode_json, encode_json
from orq_otel._log import exception_once, warn_once

THREAD = Group(THREAD_PREFIX, "thread", binds=IDENTITY_PREFIX)
_TAGS_KEY = THREAD.key("tags")


def write_thread(thread: Thread, settings: Settings, context: Context) -> Context:
    key, value = id_entry(THREAD, thread.id)
    entries = {key: value}
    if thread.tags:
        entries[_TAGS_KEY] = encode_json(list(thread.tags))
    return write_group(THREAD, entries, settings, context)


def _read_thread(context: Context | None, settings: Settings) -> Thread | None:
    """The thread another service put in baggage, or None. Never raises."""
    try:
        entries = group_entries(THREAD, context)
        if not entries or not all(isinstance(value, str) for value in entries.values()):
            return None
        if not trusted(THREAD, entries, settings, bound_entries(THREAD, context))[0]:
            return None
        items = tuple(sorted(entries.items()))
        thread, why = (_decode if cacheable(items) else _decode.__wrapped__)(items)
    except Exception:  # noqa: BLE001 - untrusted input must never break the caller
        exception_once("thread-baggage-unexpected", "thread baggage could not be read; ignored")
        return None
    if why is not None:  # warned outside the cache: logged once, cached or not
        warn_once("thread-baggage-invalid", "thread in baggage is invalid, ignored: %s", why)
    return thread


# Read once per baggage object (all the calls of one request share it).
read_thread = LastBaggageRead(_read_thread)


@lru_cache(maxsize=1024)
def _decode(items: tuple[tuple[str, str], ...]) -> tuple[Thread | None, str | None]:
    """The thread in these entries, or (None, what was wrong: rules, never values)."""
    entries = dict(items)
    try:
        fields: dict[str, Any] = {"id": read_id(THREAD, entries)}
        if _TAGS_KEY in entries:
            fields["tags"] = decode_json(entries[_TAGS_KEY])
        return Thread.model_validate(fields), None
    except (ValueError, ValidationError) as error:
        return None, describe(error)
