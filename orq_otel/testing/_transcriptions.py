"""What the local server answers on `/audio/transcriptions`, whose request is a multipart
form (the audio file beside text fields), not JSON: a transcription, or its events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from orq_otel.testing._replies import Reply


def form_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """The text fields of a multipart form; a file field gives its file name instead."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        text = payload.decode() if isinstance(payload, bytes) else ""
        fields[name] = filename if filename is not None else _typed(text)
    return fields


def _typed(text: str) -> Any:
    """Form values are text: `true`/`false` as openai writes booleans."""
    return {"true": True, "false": False}.get(text, text)


def _usage(reply: Reply) -> dict[str, Any]:
    usage = reply.usage()
    return {
        "type": "tokens",
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def transcription(reply: Reply) -> Mapping[str, Any]:
    return {"text": reply.message.content or "", "usage": _usage(reply)}


def transcription_events(reply: Reply) -> Iterator[Mapping[str, Any]]:
    for word in reply.words:
        yield {"type": "transcript.text.delta", "delta": word + " ", "logprobs": None}
    text = reply.message.content or ""
    yield {"type": "transcript.text.done", "text": text, "usage": _usage(reply)}
