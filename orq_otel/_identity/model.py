"""The models: `Identity`, the end user an LLM call is made for, and `Thread`, the
conversation it belongs to, with orq.ai's limits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from orq_otel._identity.values import SendableJson, Text, check_text

if TYPE_CHECKING:
    from pydantic import HttpUrl
    from typing_extensions import Self

# Limits from orq.ai's identity tracking documentation.
MAX_ID_LENGTH = 255
MAX_METADATA_KEYS = 20
MAX_TAGS = 10
# RFC 5321 caps a forward path at 254 octets; longer addresses cannot be delivered.
MAX_EMAIL_LENGTH = 254

# "Basic format validation" as orq.ai does it: one @, no spaces, a dotted domain.
_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


@lru_cache(maxsize=1)
def _http_url() -> TypeAdapter[HttpUrl]:
    # Built on first use, not at import: building a validator costs milliseconds of start-up
    # (and importing pydantic's URL types, most of it).
    from pydantic import HttpUrl  # noqa: PLC0415

    return TypeAdapter(HttpUrl)


def _check_id(value: str) -> str:
    check_text(value)
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("id must not contain control characters")
    # W3C baggage trims values on extraction, so such an id would arrive changed downstream.
    if value[0].isspace() or value[-1].isspace():
        raise ValueError("id must not start or end with whitespace")
    return value


def _check_email(value: str) -> str:
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValueError(f"email must be at most {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL_PATTERN.fullmatch(value):
        raise ValueError("email must look like name@example.com")
    return value


def _check_logo_url(value: str) -> str:
    # Validate with pydantic's URL type but keep the caller's exact text: HttpUrl would
    # normalise it (e.g. add a trailing slash) and the identity must travel unchanged.
    try:
        _http_url().validate_python(value)
    except ValueError:
        raise ValueError("logo_url must be an absolute http:// or https:// URL") from None
    return value


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(
            f"metadata has {len(value)} top-level keys; at most {MAX_METADATA_KEYS} are allowed "
            "(group related data into nested objects)"
        )
    return value


IdentityId = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_check_id)
]
Email = Annotated[Text, AfterValidator(_check_email)]
LogoUrl = Annotated[Text, AfterValidator(_check_logo_url)]
Metadata = Annotated[dict[Text, SendableJson], AfterValidator(_check_metadata)]
Tags = Annotated[list[Text], Field(max_length=MAX_TAGS)]


class _CachesDerived(BaseModel):
    """A frozen model whose `functools.cached_property` values live in its `__dict__`: a
    copy made with changed fields must not inherit them."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        for name in [key for key in copied.__dict__ if key not in type(self).model_fields]:
            del copied.__dict__[name]
        return copied


class Identity(_CachesDerived):
    """The end user (or tenant, ticket, experiment arm) that an LLM call is made for.

    Fields and limits are orq.ai's: ``id`` is required (1-255 characters, no control
    characters); ``metadata`` has at most 20 top-level keys; ``tags`` at most 10 entries.
    Unknown fields are rejected. Invalid input raises ``pydantic.ValidationError`` (a
    ``ValueError``) whose message names the field and the limit.
    """

    # defer_build: the validator is built on the first identity, not when orq_otel is imported.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)

    id: IdentityId
    display_name: Text | None = None
    # Kept out of repr so that logging an identity does not leak the address.
    email: Email | None = Field(default=None, repr=False)
    metadata: Metadata | None = None
    logo_url: LogoUrl | None = None
    tags: Tags | None = None

    @cached_property
    def payload(self) -> Mapping[str, Any]:
        """The identity as orq.ai's router takes it (`orq.identity`), without unset fields.

        Computed once per identity object: the instrumentor reads it on every call.
        """
        return self.model_dump(mode="json", exclude_none=True)

    @cached_property
    def responses_payload(self) -> Mapping[str, Any]:
        """`payload` as the Responses API takes it: its identity schema has no logo_url and
        refuses unknown fields."""
        payload = self.payload
        if "logo_url" not in payload:
            return payload
        return {key: value for key, value in payload.items() if key != "logo_url"}

    @cached_property
    def header_value(self) -> str | None:
        """The id as an `X-ORQ-IDENTITY-ID` value, or None: header values are printable
        ASCII, and an id with other characters travels in the body only."""
        return self.id if self.id.isascii() and self.id.isprintable() else None

    @cached_property
    def derived(self) -> dict[str, Any]:
        """What other modules derive from this identity (span attributes, metric attribute
        sets), computed once per identity object and kept here: the identity is immutable,
        and each `use_identity` block (or baggage header, see `identity_entries`) holds one
        object for all of its calls."""
        return {}


def coerce_identity(
    identity: Identity | Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> Identity:
    """Build an `Identity` from what `use_identity` / `set_identity` accept.

    Keyword fields override those of a given identity or mapping.
    """
    if identity is None:
        return Identity.model_validate(fields)
    if isinstance(identity, Identity):
        if not fields:
            return identity
        return Identity.model_validate({**identity.model_dump(exclude_none=True), **fields})
    if isinstance(identity, Mapping):
        return Identity.model_validate({**identity, **fields})
    raise TypeError(
        f"identity must be an Identity, a mapping or None, not {type(identity).__name__}"
    )


# --- the thread -----------------------------------------------------------------------

MAX_THREAD_ID_LENGTH = 100
MAX_THREAD_TAGS = 10

ThreadId = Annotated[IdentityId, Field(max_length=MAX_THREAD_ID_LENGTH)]
ThreadTags = Annotated[list[Text], Field(max_length=MAX_THREAD_TAGS)]


class Thread(_CachesDerived):
    """A conversation: ``id`` (1-100 characters) and ``tags`` (at most 10 strings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: ThreadId
    tags: ThreadTags | None = None

    @cached_property
    def payload(self) -> Mapping[str, Any]:
        """The thread as the orq router takes it, tags left out when there are none."""
        return {"id": self.id, "tags": list(self.tags)} if self.tags else {"id": self.id}

    @cached_property
    def derived(self) -> dict[str, Any]:
        """What other modules derive from this thread, once per thread object (`Identity`)."""
        return {}
