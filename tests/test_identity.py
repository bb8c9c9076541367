"""The Identity model: orq.ai's fields and limits, each tested at its boundary."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orq_otel import Identity


def error_text(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Identity(**fields)
    return str(caught.value)


def test_id_is_required() -> None:
    assert "id" in error_text(display_name="Ada")


def test_id_of_255_characters_is_accepted() -> None:
    assert Identity(id="x" * 255).id == "x" * 255


def test_id_of_256_characters_is_rejected_naming_field_and_limit() -> None:
    text = error_text(id="x" * 256)
    assert "id" in text
    assert "255" in text


def test_empty_id_is_rejected() -> None:
    assert "at least 1" in error_text(id="")


@pytest.mark.parametrize("control", ["\n", "\t", "\x00", "\x7f", "\x85"])
def test_id_with_control_character_is_rejected(control: str) -> None:
    assert "control characters" in error_text(id=f"user{control}1")


@pytest.mark.parametrize("bad_id", [" user-1", "user-1 ", "\u3000user"])
def test_id_with_surrounding_whitespace_is_rejected(bad_id: str) -> None:
    assert "whitespace" in error_text(id=bad_id)


def test_id_may_hold_any_printable_unicode() -> None:
    assert Identity(id="tenant-ü/😀 x,y;z=%").id == "tenant-ü/😀 x,y;z=%"


def test_metadata_with_20_keys_is_accepted() -> None:
    metadata = {f"k{i}": i for i in range(20)}
    assert Identity(id="u", metadata=metadata).metadata == metadata


def test_metadata_with_21_keys_is_rejected_naming_field_and_limit() -> None:
    text = error_text(id="u", metadata={f"k{i}": i for i in range(21)})
    assert "metadata" in text
    assert "at most 20" in text


def test_metadata_may_nest_objects_beyond_the_key_limit() -> None:
    nested = {"profile": {f"k{i}": i for i in range(50)}}
    assert Identity(id="u", metadata=nested).metadata == nested


def test_metadata_must_be_json() -> None:
    assert "metadata" in error_text(id="u", metadata={"when": object()})


def test_ten_tags_are_accepted() -> None:
    assert Identity(id="u", tags=[str(i) for i in range(10)]).tags == [str(i) for i in range(10)]


def test_eleven_tags_are_rejected_naming_field_and_limit() -> None:
    text = error_text(id="u", tags=[str(i) for i in range(11)])
    assert "tags" in text
    assert "at most 10" in text


@pytest.mark.parametrize("email", ["ada@example.com", "a.b+c@mail.example.co.uk"])
def test_valid_email_is_accepted(email: str) -> None:
    assert Identity(id="u", email=email).email == email


@pytest.mark.parametrize(
    "email", ["ada", "ada@", "@example.com", "ada@example", "a da@x.com", "a@@x.com"]
)
def test_malformed_email_is_rejected(email: str) -> None:
    text = error_text(id="u", email=email)
    assert "email" in text
    assert "name@example.com" in text


def test_email_longer_than_254_characters_is_rejected() -> None:
    assert "254" in error_text(id="u", email="a" * 245 + "@example.com")


def test_email_is_not_shown_in_repr() -> None:
    assert "ada@example.com" not in repr(Identity(id="u", email="ada@example.com"))


@pytest.mark.parametrize("url", ["https://cdn.example.com/a.png", "http://localhost:8080/x"])
def test_http_logo_url_is_kept_exactly(url: str) -> None:
    assert Identity(id="u", logo_url=url).logo_url == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "javascript:alert(1)", "/a.png", "https://"]
)
def test_logo_url_without_http_scheme_is_rejected(url: str) -> None:
    text = error_text(id="u", logo_url=url)
    assert "logo_url" in text
    assert "http://" in text


def test_unknown_field_is_rejected_by_name() -> None:
    assert "nickname" in error_text(id="u", nickname="x")


def test_non_string_id_is_rejected() -> None:
    assert "id" in error_text(id=123)


def test_identity_cannot_be_changed_after_creation() -> None:
    identity = Identity(id="u")
    with pytest.raises(ValidationError):
        identity.id = "v"  # type: ignore[misc]


def test_payload_omits_unset_fields() -> None:
    identity = Identity(id="u", display_name="Ada", tags=["pro"])
    assert identity.payload == {"id": "u", "display_name": "Ada", "tags": ["pro"]}
