"""Where W3C properties start in our entries: only at a literal `;` in the header.

Python's W3C propagator percent-decodes a value before anyone sees it and leaves its
properties in it, so `t%C3%A9st%20user%3B1` (the id ``tést user;1`` as Node, Java or Go
write it) and `user;p=1` (the id ``user`` with a property) both arrive holding a `;`.
Every other SDK cuts properties off at the literal `;` of the header. So, wrapped, the
propagator's `extract` also notes, for each of our entries it read, the value as the
other SDKs read it, computed from the header itself; readers use that note when the value
in baggage is still the one the propagator wrote, and otherwise cut at the first `;`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from opentelemetry.baggage import get_all
from opentelemetry.context import Context, create_key, get_value, set_value

from orq_otel._identity.keys import is_guarded_key
from orq_otel._identity.wire import entry_text

# {key: (value as the propagator delivered it, value without properties)}
_CUT_VALUES = create_key("orq_otel.baggage-without-properties")
# The propagator reads nothing from a longer header, and at most this many members.
_MAX_HEADER_BYTES = 8192
_MAX_MEMBERS = 180


def _first(values: Any) -> str | None:
    if isinstance(values, str):
        return values
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], str):
        return values[0]
    return None


def cut_values(header: str) -> dict[str, tuple[str, str]]:
    """Our entries in a `baggage` header: {key: (the propagator's value, the value cut at
    the header's first literal `;`)}, later members winning as in the propagator."""
    found: dict[str, tuple[str, str]] = {}
    if len(header.encode()) > _MAX_HEADER_BYTES:
        return found
    for member in header.split(",")[:_MAX_MEMBERS]:
        name, equals, value = member.partition("=")
        if not equals:
            continue
        key = unquote_plus(name.strip(" \t")).strip()
        if is_guarded_key(key):
            raw = value.strip(" \t")
            whole = unquote_plus(raw).strip()
            found[key] = (whole, unquote_plus(raw.split(";", 1)[0]).strip())
    return found


def noted_extract(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """`W3CBaggagePropagator.extract`, noting our entries' values without properties."""
    context = wrapped(*args, **kwargs)
    carrier = args[0] if args else kwargs.get("carrier")
    getter = args[2] if len(args) > 2 else kwargs.get("getter")
    try:
        header = _first(getter.get(carrier, "baggage") if getter else carrier.get("baggage"))
        found = cut_values(header) if header else {}
        read = get_all(context)
        noted = {key: cut for key, (whole, cut) in found.items() if read.get(key) == whole}
        if noted:
            return set_value(_CUT_VALUES, {k: (found[k][0], v) for k, v in noted.items()}, context)
    except Exception:  # noqa: BLE001 - a note we cannot take: readers cut at the first `;`
        return context
    return context


def noted_values(context: Context | None) -> object:
    """The note `noted_extract` left in `context`, or None (what readers' results depend on)."""
    return get_value(_CUT_VALUES, context)


def without_properties_in(key: str, value: str, context: Context | None) -> str:
    """The value of our entry `key` without W3C properties, as every other SDK reads it."""
    noted = get_value(_CUT_VALUES, context)
    if isinstance(noted, dict):
        found = noted.get(key)
        if found is not None and found[0] == value:
            return str(found[1])
    return entry_text(value)
