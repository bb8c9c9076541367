"""The conversation a call belongs to (an orq.ai "thread"), for a block of code.

Like the identity: kept in the OpenTelemetry context, written to baggage so that other
services continue it, sent to the orq router, recorded on spans as
`gen_ai.conversation.id`. Never on metrics: there is one per conversation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.context import Context, attach, create_key, detach, get_value, set_value

from orq_otel._config import Settings, current_settings
from orq_otel._identity.model import Thread
from orq_otel._identity.thread_entries import read_thread, write_thread

_THREAD_KEY = create_key("orq_otel.thread")


def set_thread(
    thread_id: str, *, tags: Sequence[str] | None = None, context: Context | None = None
) -> Context:
    """A copy of `context` in which the thread is in effect (in context and in baggage)."""
    thread = Thread(id=thread_id, tags=list(tags) if tags is not None else None)
    with_value = set_value(_THREAD_KEY, thread, context)
    return write_thread(thread, current_settings.get(), with_value)


@contextmanager
def use_thread(thread_id: str, /, *, tags: Sequence[str] | None = None) -> Iterator[Thread]:
    """Make a conversation current for the ``with`` block, then restore the previous one.

    Invalid input (an id over 100 characters, more than 10 tags) raises
    `pydantic.ValidationError` naming the field and the limit, before anything is set.
    """
    context = set_thread(thread_id, tags=tags)
    token = attach(context)
    try:
        yield get_value(_THREAD_KEY, context)  # type: ignore[misc]
    finally:
        detach(token)


def get_thread(context: Context | None = None) -> Thread | None:
    """The thread in effect: set in this process, else received in baggage, else the
    conversation id that `opentelemetry-util-genai` keeps in the context, if any."""
    return thread_in_effect(context, current_settings.get())


def thread_in_effect(context: Context | None, settings: Settings) -> Thread | None:
    """`get_thread()` with the settings of the instrumentation asking."""
    in_process = get_value(_THREAD_KEY, context)
    if isinstance(in_process, Thread):
        return in_process
    received = read_thread(context, settings)
    return received if received is not None else _ambient_conversation(context)


def _ambient_conversation(context: Context | None) -> Thread | None:
    conversation_id = _util_genai_conversation_id(context)
    if conversation_id is None:
        return None
    try:
        return Thread(id=conversation_id)
    except ValueError:  # not a thread orq takes (over 100 characters, say): not sent
        return None


# util-genai keeps the conversation id of an agent run in the context under a key of its
# own, readable only through its (private) module.
_UTIL_GENAI_CONTEXT = "opentelemetry.util.genai._conversation_context"


def _util_genai_conversation_id(context: Context | None) -> str | None:
    # Only if the application loaded util-genai: nothing else can have set the id, and the
    # check must cost nothing on every call.
    module = sys.modules.get(_UTIL_GENAI_CONTEXT)
    reader = getattr(module, "get_ambient_conversation_id", None)
    if reader is None:
        return None
    conversation_id = reader(context)
    return conversation_id if isinstance(conversation_id, str) else None
