"""The wire format's test vectors, as README documents them for other languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import propagate
from opentelemetry.context import Context

from orq_otel import Identity, get_identity, set_identity
from orq_otel._config import current_settings, load_settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECRET = "orq-otel-test-vector-secret"
EXPIRY = 1767225600
TTL = 600

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
    "orq.identity.sig=v1.1767225600.Ioxq__NT3yQc605mhoReFzLeBffA3OzNPrjb-R-iF0c"
)
TRICKY_SIGNATURE = ",orq.identity.sig=v1.1767225600.NHQwT5NNL3-m4VKCvdlNzLHoSAG69hvqzIY_3XOpmjI"
VECTORS = [
    (TRICKY, None, TRICKY_HEADER),
    (ADA, SECRET, ADA_SIGNED),
    (TRICKY, SECRET, TRICKY_HEADER + TRICKY_SIGNATURE),
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


@pytest.mark.parametrize(
    "text",
    [TRICKY_HEADER, ADA_SIGNED, TRICKY_SIGNATURE.lstrip(","), "v1.1767225600.Ioxq__NT3yQc605m"],
)
def test_readme_documents_the_vectors(text: str) -> None:
    assert text in README
