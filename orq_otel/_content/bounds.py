"""Caps that keep every content attribute valid JSON and within a size a batch can carry.

Text longer than `max_length` characters is cut with a marker; an attribute's JSON longer
than `max_bytes` loses its oldest input messages first, then its inline blobs, then more
of its text. Whatever is left out (inline blobs by default too), `cut` says so
(`orq.content.truncated` on the span).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orq_otel._content.redaction import Content

MARKER = "...[truncated {} characters]"
_SHORTEST = 64  # text is never shrunk below this many characters before giving up


class Cut:
    """Whether anything was left out of this call's content."""

    __slots__ = ("cut",)

    def __init__(self, cut: bool = False) -> None:
        self.cut = cut


def dumps(value: Any) -> str:
    """Compact JSON, as util-genai writes it; readable Unicode where it can be encoded."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: escape it rather than fail the export
        text = json.dumps(value, separators=(",", ":"), default=str)
    return text


def _size(text: str) -> int:
    return len(text.encode())


def shortened(value: Any, limit: int, cut: Cut) -> Any:
    """A copy of `value` whose strings are at most `limit` characters (plus the marker).

    Inline blob payloads are never cut (half a base64 image is noise): only omitted.
    """
    kind = type(value)  # exact types first: an ABC check per value costs more than the walk
    if kind is str or isinstance(value, str):
        if len(value) <= limit:
            return value
        cut.cut = True
        return value[:limit] + MARKER.format(len(value) - limit)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        if value.get("type") == "blob":
            cut.cut = cut.cut or value.get("omitted") is True  # left out when it was read
            return dict(value)
        return {key: shortened(item, limit, cut) for key, item in value.items()}
    if kind is list or isinstance(value, tuple):
        return [shortened(item, limit, cut) for item in value]
    return value


def _without_blobs(value: Any, cut: Cut) -> Any:
    if isinstance(value, Mapping):
        if value.get("type") == "blob" and value.get("content"):
            cut.cut = True
            payload = value["content"]
            size = len(payload) * 3 // 4 if isinstance(payload, str) else 0
            return {**value, "content": "", "size": value.get("size", size), "omitted": True}
        return {key: _without_blobs(item, cut) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_blobs(item, cut) for item in value]
    return value


def _drop_oldest(messages: list[Any], max_bytes: int) -> list[Any]:
    """The newest messages whose JSON array fits (at least the newest one)."""
    sizes = [_size(dumps(message)) + 1 for message in messages]  # +1: the comma
    total = sum(sizes) + 1
    first = 0
    while total > max_bytes and first < len(messages) - 1:
        total -= sizes[first]
        first += 1
    return messages[first:]


def fit(
    items: list[Any], max_bytes: int, max_length: int, oldest_first: bool, cut: Cut
) -> tuple[list[Any], str]:
    """`items` and their JSON, at most `max_bytes` long."""
    text = dumps(items)
    if _size(text) <= max_bytes:
        return items, text
    cut.cut = True
    if oldest_first:
        items = _drop_oldest(items, max_bytes)
    items = _without_blobs(items, cut)
    text = dumps(items)
    limit = max_length
    while _size(text) > max_bytes and limit > _SHORTEST:
        limit //= 4
        items = shortened(items, max(limit, _SHORTEST), cut)
        text = dumps(items)
    if _size(text) > max_bytes:
        return [], "[]"
    return items, text


def bound(
    content: Content, max_length: int, max_bytes: int, cut: Cut
) -> dict[str, tuple[list[Any], str]]:
    """Each non-empty part of the content, shortened and fitted: (structured, JSON)."""
    bounded = {}
    for key, items in content.items():
        if items:
            short = shortened(items, max_length, cut)
            bounded[key] = fit(short, max_bytes, max_length, key == "input", cut)
    return bounded
