"""Value types shared by `Identity` and `Thread`: text and JSON that can be sent anywhere.

Python strings may hold lone surrogates and floats may be NaN or infinite; neither can be
written as JSON or UTF-8, so a request or a baggage header carrying one would fail far
from where it was made. They are refused at the model, with the field's name.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, JsonValue, ValidationError


def check_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def _check_json(value: Any) -> Any:
    """Walk a JSON value (iteratively: nesting depth is the caller's) for text and numbers."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"must hold only finite numbers, not {item}")
        elif isinstance(item, dict):
            for key, nested in item.items():
                check_text(key)
                pending.append(nested)
        elif isinstance(item, list):
            pending.extend(item)
    return value


Text = Annotated[str, AfterValidator(check_text)]
SendableJson = Annotated[JsonValue, AfterValidator(_check_json)]


class WireError(ValueError):
    """A value in baggage broke one of the wire format's rules; the message names the rule
    (a fixed text, never the value)."""


def describe(error: Exception) -> str:
    """What was wrong, for a log line: the fields and the rules, never the values.

    pydantic's messages and Python's decoding errors quote the input (an e-mail address,
    a metadata value): personal data has no place in a log.
    """
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, detail['loc'])) or 'value'}: {detail['type']}"
            for detail in error.errors(include_input=False, include_url=False)
        )
    if isinstance(error, WireError):
        return str(error)
    if isinstance(error, UnicodeError):
        return "not UTF-8"
    if isinstance(error, json.JSONDecodeError):
        return "not JSON"
    return type(error).__name__
