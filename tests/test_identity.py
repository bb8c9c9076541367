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


# --- what is derived from an identity: computed once per object, never stale ----------


def test_span_attributes_are_computed_once_per_identity_object() -> None:
    from orq_otel._identity.attributes import IdentityAttributes

    identity = Identity(id="user-1", display_name="Ada", tags=["pro"], metadata={"plan": "pro"})
    attributes = IdentityAttributes(record_email=False)
    first = attributes.of(identity)
    assert attributes.of(identity) is first  # the next call reuses it
    assert dict(first) == {
        "orq.identity.id": "user-1",
        "enduser.id": "user-1",
        "user.id": "user-1",
        "orq.identity.display_name": "Ada",
        "orq.identity.tags": ("pro",),
        "orq.identity.metadata.plan": "pro",
    }


def test_email_setting_gets_its_own_span_attributes() -> None:
    from orq_otel._identity.attributes import IdentityAttributes

    identity = Identity(id="user-1", email="ada@example.com")
    without = IdentityAttributes(record_email=False).of(identity)
    with_email = IdentityAttributes(record_email=True).of(identity)
    assert "orq.identity.email" not in without
    assert with_email["orq.identity.email"] == "ada@example.com"
    assert "orq.identity.email" not in IdentityAttributes(record_email=False).of(identity)


def test_thread_attributes_are_computed_once_per_thread_object() -> None:
    from orq_otel._identity.attributes import thread_attributes
    from orq_otel._identity.model import Thread

    thread = Thread(id="conv-1", tags=["support"])
    first = thread_attributes(thread)
    assert thread_attributes(thread) is first
    assert dict(first) == {
        "gen_ai.conversation.id": "conv-1",
        "orq.thread.id": "conv-1",
        "orq.thread.tags": ("support",),
    }


@pytest.mark.parametrize(
    ("identity_id", "header"),
    [("user-1", "user-1"), ("a b", "a b"), ("usér", None), ("ユーザー", None)],
)
def test_header_value_is_the_id_when_it_is_printable_ascii(
    identity_id: str, header: str | None
) -> None:
    assert Identity(id=identity_id).header_value == header


def test_responses_payload_leaves_out_logo_url_only() -> None:
    identity = Identity(id="u", display_name="Ada", logo_url="https://example.com/a.png")
    assert identity.responses_payload == {"id": "u", "display_name": "Ada"}
    assert identity.payload["logo_url"] == "https://example.com/a.png"


def test_a_changed_copy_derives_its_own_values() -> None:
    from orq_otel._identity.attributes import IdentityAttributes

    identity = Identity(id="user-1", display_name="Ada")
    attributes = IdentityAttributes(record_email=False)
    assert attributes.of(identity)["orq.identity.id"] == "user-1"
    assert identity.header_value == "user-1"
    changed = identity.model_copy(update={"id": "usér-2"})
    assert attributes.of(changed)["orq.identity.id"] == "usér-2"
    assert changed.header_value is None
    assert changed.payload == {"id": "usér-2", "display_name": "Ada"}
    assert changed == Identity(id="usér-2", display_name="Ada")


def test_derived_values_do_not_change_equality_or_the_dump() -> None:
    used = Identity(id="u", tags=["x"])
    _ = used.payload, used.header_value, used.responses_payload
    used.derived["anything"] = 1
    fresh = Identity(id="u", tags=["x"])
    assert used == fresh
    assert used.model_dump() == fresh.model_dump()
