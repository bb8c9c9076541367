"""Read LLM spans from exported telemetry files, one span at a time (constant memory).

Two formats, told apart by their first bytes:

- OTLP JSON lines, as the OpenTelemetry Collector's `file` exporter writes them: one
  `ExportTraceServiceRequest` JSON object a line (also accepted: one such object for the
  whole file, pretty-printed or not);
- the JSON that Jaeger's query API returns for `/api/traces?...`
  (``{"data": [{"spans": [...]}]}``).

A line or span that cannot be read is counted in `ReadStats.malformed` and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import ijson
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
)

_OTLP_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")


@dataclass(frozen=True)
class SpanRecord:
    """What the report needs of one LLM span."""

    attributes: Mapping[str, Any]
    start_ns: int
    end_ns: int
    error: bool


@dataclass
class ReadStats:
    spans: int = 0  # LLM spans read
    skipped: int = 0  # spans that are not LLM spans (HTTP, database...)
    malformed: int = 0  # lines or spans that could not be read
    bytes_read: int = 0
    on_progress: Callable[[int], None] | None = field(default=None, repr=False)

    def advance(self, size: int) -> None:
        self.bytes_read += size
        if self.on_progress is not None:
            self.on_progress(size)


def read_spans(stream: IO[bytes], stats: ReadStats) -> Iterator[SpanRecord]:
    """LLM spans (those with `gen_ai.operation.name`) from one file, whatever its format."""
    head = stream.peek(4096) if hasattr(stream, "peek") else b""
    if _first_key(head) == "data":
        yield from _jaeger(stream, stats)
    else:
        yield from _otlp(stream, stats)


def _first_key(head: bytes) -> str | None:
    """The first object key in the file's first bytes: "data" for Jaeger's API answers."""
    try:
        for _, event, value in ijson.parse(head):
            if event == "map_key":
                return str(value)
    except ijson.JSONError:  # the head ends mid-document: what was seen is enough
        return None
    return None


# --- OTLP JSON --------------------------------------------------------------------------


def _otlp(stream: IO[bytes], stats: ReadStats) -> Iterator[SpanRecord]:
    first = stream.readline()
    try:
        document = json.loads(first)
    except ValueError:
        document = None
    if document is None and first.strip().startswith(b"{"):
        # One pretty-printed request for the whole file: parse it as a stream.
        yield from _otlp_document(_Prepend(first, stream, stats), stats)
        return
    lines: Iterator[bytes] = iter([first]) if first else iter(())
    for line in _chain(lines, stream):
        stats.advance(len(line))
        if not line.strip():
            continue
        try:
            batches = json.loads(line)["resourceSpans"]
            if not isinstance(batches, list):
                raise TypeError("resourceSpans is not a list")  # noqa: TRY301 - counted below
        except (ValueError, KeyError, TypeError):
            stats.malformed += 1
            continue
        try:
            yield from _otlp_request_spans(batches, stats)
        except (AttributeError, TypeError):  # a request of the wrong shape deeper down
            stats.malformed += 1


def _otlp_document(stream: _Counting, stats: ReadStats) -> Iterator[SpanRecord]:
    try:
        for span in ijson.items(stream, "resourceSpans.item.scopeSpans.item.spans.item"):
            record = _otlp_span(span, stats)
            if record is not None:
                yield record
    except ijson.JSONError:
        stats.malformed += 1


def _otlp_request_spans(batches: Any, stats: ReadStats) -> Iterator[SpanRecord]:
    for resource_spans in batches or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                record = _otlp_span(span, stats)
                if record is not None:
                    yield record


def _otlp_span(span: Any, stats: ReadStats) -> SpanRecord | None:
    try:
        attributes = {
            item["key"]: _otlp_value(item.get("value") or {})
            for item in span.get("attributes") or ()
        }
        if GEN_AI_OPERATION_NAME not in attributes:
            stats.skipped += 1
            return None
        status = span.get("status") or {}
        record = SpanRecord(
            attributes,
            int(span["startTimeUnixNano"]),
            int(span["endTimeUnixNano"]),
            status.get("code") in _OTLP_ERROR_CODES or "error.type" in attributes,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        stats.malformed += 1
        return None
    stats.spans += 1
    return record


def _otlp_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])  # int64 travels as a string in OTLP JSON
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_otlp_value(item) for item in (value["arrayValue"].get("values") or ())]
    return None


# --- Jaeger --------------------------------------------------------------------------


def _jaeger(stream: IO[bytes], stats: ReadStats) -> Iterator[SpanRecord]:
    counted = _Counting(stream, stats)
    try:
        for span in ijson.items(counted, "data.item.spans.item", use_float=True):
            record = _jaeger_span(span, stats)
            if record is not None:
                yield record
    except ijson.JSONError:
        stats.malformed += 1


def _jaeger_span(span: Any, stats: ReadStats) -> SpanRecord | None:
    try:
        attributes = {tag["key"]: tag.get("value") for tag in span.get("tags") or ()}
        if GEN_AI_OPERATION_NAME not in attributes:
            stats.skipped += 1
            return None
        start_ns = int(span["startTime"]) * 1000  # Jaeger: microseconds
        end_ns = start_ns + int(span["duration"]) * 1000
        error = attributes.get("otel.status_code") == "ERROR" or attributes.get("error") is True
        record = SpanRecord(attributes, start_ns, end_ns, error or "error.type" in attributes)
    except (KeyError, TypeError, ValueError, AttributeError):
        stats.malformed += 1
        return None
    stats.spans += 1
    return record


# --- plumbing ------------------------------------------------------------------------


def _chain(first: Iterator[bytes], rest: IO[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


class _Counting:
    """A binary stream that reports how much was read (for progress)."""

    def __init__(self, stream: IO[bytes], stats: ReadStats) -> None:
        self._stream = stream
        self._stats = stats

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._stats.advance(len(data))
        return data


class _Prepend(_Counting):
    """A stream whose first bytes were already read."""

    def __init__(self, head: bytes, stream: IO[bytes], stats: ReadStats) -> None:
        super().__init__(stream, stats)
        self._head = head

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            self._stats.advance(len(data))
            return data
        return super().read(size)
