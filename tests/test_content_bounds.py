"""Bounds: text cut with a marker, a byte cap per attribute that keeps valid JSON (oldest
input messages dropped first), inline blobs left out with their type and size, streams
buffered only up to the cap, and `orq.content.truncated` whenever anything was cut."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from test_content_capture import CONTENT_ATTRIBUTES, Capture, capturing, text

from orq_otel.testing import LocalOpenAIServer, MessageReply

TRUNCATED = "orq.content.truncated"
IMAGE_BYTES = bytes(range(256)) * 3907 + b"\x00" * 8  # 1,000,200 bytes: a "1 MB image"
IMAGE_URL = "data:image/png;base64," + base64.b64encode(IMAGE_BYTES).decode()
SMALL_IMAGE = base64.b64encode(b"\x89PNG tiny").decode()


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield from capturing()


def with_image(url: str) -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def truncated(capture: Capture) -> bool:
    return bool((capture.only_span().attributes or {}).get(TRUNCATED))


def test_nothing_cut_no_flag(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only")
    plain_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert capture.content()
    assert TRUNCATED not in (capture.only_span().attributes or {})


def test_long_text_is_cut_with_a_marker(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only", content_max_length=20)
    plain_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x" * 50}]
    )
    assert capture.content()["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text("x" * 20 + "...[truncated 30 characters]")]}
    ]
    assert truncated(capture)


def test_over_the_byte_cap_the_oldest_input_messages_go_first(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_max_bytes=1000)
    messages: Any = [{"role": "user", "content": f"{i:02d} " + "y" * 97} for i in range(20)]
    plain_client.chat.completions.create(model="m", messages=messages)
    raw = str((capture.only_span().attributes or {})["gen_ai.input.messages"])
    assert len(raw.encode()) <= 1000
    kept = json.loads(raw)
    numbers = [message["parts"][0]["content"][:2] for message in kept]
    assert numbers == [f"{i:02d}" for i in range(20 - len(kept), 20)]  # the newest, in order
    assert len(kept) >= 5
    assert truncated(capture)


def test_a_message_alone_over_the_cap_is_shortened_and_stays_valid_json(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_max_bytes=500)
    plain_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "é" * 5000}]
    )
    attributes = capture.only_span().attributes or {}
    for name in CONTENT_ATTRIBUTES:
        if name in attributes:
            assert len(str(attributes[name]).encode()) <= 500
            json.loads(str(attributes[name]))
    (message,) = capture.content()["gen_ai.input.messages"]
    assert message["parts"][0]["content"].startswith("é" * 64)
    assert truncated(capture)


def test_a_1mb_inline_image_is_left_out_with_its_type_and_size(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only")
    plain_client.chat.completions.create(model="m", messages=with_image(IMAGE_URL))
    raw = str((capture.only_span().attributes or {})["gen_ai.input.messages"])
    assert len(raw) < 300
    assert json.loads(raw) == [
        {
            "role": "user",
            "parts": [
                text("What is this?"),
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "",
                    "size": len(IMAGE_BYTES),
                    "omitted": True,
                },
            ],
        }
    ]
    assert truncated(capture)


def test_an_image_url_is_kept_as_a_uri(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only")
    plain_client.chat.completions.create(
        model="m", messages=with_image("https://example.com/cat.png")
    )
    parts = capture.content()["gen_ai.input.messages"][0]["parts"]
    assert parts[1] == {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"}
    assert not truncated(capture)


def test_inline_blobs_are_kept_when_asked_and_they_fit(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_blobs="inline")
    plain_client.chat.completions.create(
        model="m", messages=with_image(f"data:image/png;base64,{SMALL_IMAGE}")
    )
    parts = capture.content()["gen_ai.input.messages"][0]["parts"]
    assert parts[1] == {
        "type": "blob",
        "modality": "image",
        "mime_type": "image/png",
        "content": SMALL_IMAGE,
    }
    assert not truncated(capture)


def test_inline_blobs_over_the_cap_are_left_out(
    capture: Capture, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_blobs="inline")
    plain_client.chat.completions.create(model="m", messages=with_image(IMAGE_URL))
    parts = capture.content()["gen_ai.input.messages"][0]["parts"]
    assert parts == [
        text("What is this?"),
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "content": "",
            "size": len(IMAGE_BYTES),
            "omitted": True,
        },
    ]
    assert truncated(capture)


def test_responses_images_are_left_out_too(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only")
    plain_client.responses.create(
        model="m",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "And this?"},
                    {"type": "input_image", "image_url": IMAGE_URL, "detail": "auto"},
                ],
            }
        ],
    )
    parts = capture.content()["gen_ai.input.messages"][0]["parts"]
    assert parts[1] == {
        "type": "blob",
        "modality": "image",
        "mime_type": "image/png",
        "content": "",
        "size": len(IMAGE_BYTES),
        "omitted": True,
    }


def test_input_audio_is_left_out_too(capture: Capture, plain_client: openai.OpenAI) -> None:
    capture.instrument(capture_content="span_only")
    audio = base64.b64encode(b"RIFF" + b"\x01" * 96).decode()
    plain_client.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}
                ],
            }
        ],
    )
    assert capture.content()["gen_ai.input.messages"][0]["parts"] == [
        {
            "type": "blob",
            "modality": "audio",
            "mime_type": "audio/wav",
            "content": "",
            "size": 100,
            "omitted": True,
        }
    ]


def test_a_stream_buffers_no_more_than_the_cap(
    capture: Capture, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    capture.instrument(capture_content="span_only", content_max_bytes=300)
    long_reply = " ".join(f"word{i}" for i in range(400))
    server.script(MessageReply(long_reply))
    chunks = list(
        plain_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Talk"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == long_reply
    raw = str((capture.only_span().attributes or {})["gen_ai.output.messages"])
    assert len(raw.encode()) <= 300
    (message,) = json.loads(raw)
    assert long_reply.startswith(message["parts"][0]["content"].split("...[truncated")[0])
    assert truncated(capture)
