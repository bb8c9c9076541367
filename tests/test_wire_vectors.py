"""The wire format's test vectors, as README documents them for other languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import propagate
from opentelemetry.context import Context

from orq_otel import Identity, get_identity, set_identity
from orq_otel._config import current_settings, load_settings
from orq_otel._identity.signing import canonical_form
from orq_otel._identity.thread import set_thread

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECRET = "orq-otel-test-vector-secret"
EXPIRY = 1767225600
TTL = 600
V1_ADA = "v1.1767225600.Ioxq__NT3yQc605mhoReFzLeBffA3OzNPrjb-R-iF0c"
V1_TRICKY = "v1.1767225600.NHQwT5NNL3-m4VKCvdlNzLHoSAG69hvqzIY_3XOpmjI"

TRICKY = Identity(
    id="user 1+2%",
    display_name="Ada Lovelace",
    tags=["pro", "a,b;c=d"],
    metadata={"plan": "pro", "city": "Zürich"},
)
TRICKY_HEADER = (
    "orq.identity.id.b64=InVzZXIgMSsyJSI,"
    "orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI,"
    "orq.identity.tags=WyJwcm8iLCJhLGI7Yz1kIl0,"
    "orq.identity.metadata=eyJwbGFuIjoicHJvIiwiY2l0eSI6IlrDvHJpY2gifQ"
)
ADA = Identity(id="user-123", display_name="Ada Lovelace", tags=["pro"])
ADA_SIGNED = (
    "orq.identity.id=user-123,"
    "orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI,"
    "orq.identity.tags=WyJwcm8iXQ,"
    "orq.identity.sig=v2.1767225600.kVVIceYvLTK3dD3wo-BhgdDdxIfCqX-FU3Zf6g87PnQ"
)
TRICKY_SIGNATURE = ",orq.identity.sig=v2.1767225600.LtvMomdj5jr38kNmbu_Vq_lUrLQVU7B-z8-1n6ZmEE0"
# The thread signed with Ada's identity: its signature covers her entries too.
ADA_THREAD = (
    ",orq.thread.id=conv-42,"
    "orq.thread.tags=WyJzdXBwb3J0Il0,"
    "orq.thread.sig=v2.1767225600.tx375n2YyfTKBSNZqblE_XeymbWj3dyZ8Us1linAzo8"
)
# Ada's v2 message, as README spells it.
ADA_MESSAGE = (
    b"2:v216:orq.identity.sig25:orq.identity.display_name19:IkFkYSBMb3ZlbGFjZSI"
    b"15:orq.identity.id8:user-12317:orq.identity.tags10:WyJwcm8iXQ3:exp10:1767225600"
)
VECTORS = [
    (TRICKY, None, TRICKY_HEADER),
    (ADA, SECRET, ADA_SIGNED),
    (TRICKY, SECRET, TRICKY_HEADER + TRICKY_SIGNATURE),
]
# What the previous release signed (v1): still read during an upgrade.
V1_VECTORS = [
    (ADA, ADA_SIGNED.replace(ADA_SIGNED.rsplit("=", 1)[1], V1_ADA)),
    (TRICKY, TRICKY_HEADER + ",orq.identity.sig=" + V1_TRICKY),
]


@pytest.fixture
def signing_at_the_vectors_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orq_otel._identity.baggage.wall_clock", lambda: EXPIRY - TTL)


def header_for(identity: Identity, secret: str | None) -> str:
    current_settings.set(load_settings({"identity_secret": secret, "identity_signature_ttl": TTL}))
    headers: dict[str, str] = {}
    propagate.inject(headers, context=set_identity(identity, Context()))
    return headers["baggage"]


@pytest.mark.usefixtures("signing_at_the_vectors_time")
@pytest.mark.parametrize(("identity", "secret", "header"), VECTORS)
def test_vector_is_written_exactly(identity: Identity, secret: str | None, header: str) -> None:
    assert header_for(identity, secret) == header


@pytest.mark.usefixtures("signing_at_the_vectors_time")
@pytest.mark.parametrize(("identity", "secret", "header"), VECTORS)
def test_vector_is_read_back(identity: Identity, secret: str | None, header: str) -> None:
    current_settings.set(load_settings({"identity_secret": secret}))
    assert get_identity(propagate.extract({"baggage": header}, context=Context())) == identity


@pytest.mark.usefixtures("signing_at_the_vectors_time")
def test_thread_vector_is_written_bound_to_the_identity() -> None:
    current_settings.set(load_settings({"identity_secret": SECRET, "identity_signature_ttl": TTL}))
    headers: dict[str, str] = {}
    context = set_thread("conv-42", tags=["support"], context=set_identity(ADA, Context()))
    propagate.inject(headers, context=context)
    assert headers["baggage"] == ADA_SIGNED + ADA_THREAD


def test_readme_message_is_what_is_signed() -> None:
    entries = dict(member.split("=", 1) for member in ADA_SIGNED.split(","))
    assert canonical_form(entries, EXPIRY, "orq.identity.sig") == ADA_MESSAGE


@pytest.mark.usefixtures("signing_at_the_vectors_time")
@pytest.mark.parametrize(("identity", "header"), V1_VECTORS)
def test_previous_release_signatures_are_still_read(identity: Identity, header: str) -> None:
    current_settings.set(load_settings({"identity_secret": SECRET}))
    assert get_identity(propagate.extract({"baggage": header}, context=Context())) == identity


@pytest.mark.parametrize(
    "text",
    [
        TRICKY_HEADER,
        ADA_SIGNED,
        TRICKY_SIGNATURE.lstrip(","),
        ADA_THREAD.lstrip(","),
        V1_ADA,
        V1_TRICKY,
        ADA_MESSAGE.decode(),
    ],
)
def test_readme_documents_the_vectors(text: str) -> None:
    assert text in README
