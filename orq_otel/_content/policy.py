"""Whether one call records content, and where: the ceiling, lowered per identity and call.

An identity can refuse (metadata key or tag, from any source: a refusal is safe to honour
even when forged). Consent that *enables* recording under `content_consent_required`
counts only from an identity the app set in this process (or gave in the request body) or
one whose baggage signature verified with `identity_secret`: unsigned baggage can be forged
by any caller upstream. `content_policy` can narrow the mode, never widen it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orq_otel._config import Settings
from orq_otel._content.modes import Mode, mode_named
from orq_otel._log import warn_once

# What an identity says about its content (README "Content capture").
CONSENT_METADATA_KEY = "content_capture"  # true: consents; false: refuses
CONSENT_TAG = "content_capture:consented"
REFUSAL_TAG = "content_capture:refused"
_YES = frozenset({"true", "yes", "on", "1", "consented"})
_NO = frozenset({"false", "no", "off", "0", "refused"})


@dataclass(frozen=True)
class ContentCall:
    """What `content_policy` is told about a call (its second argument)."""

    operation: str  # gen_ai.operation.name: chat, text_completion
    api: str  # chat_completions, completions, responses
    model: str | None
    server_address: str | None
    stream: bool


def _said(identity: Any) -> bool | None:
    """True: consents; False: refuses; None: said nothing. A refusal anywhere wins."""
    tags = getattr(identity, "tags", None) or ()
    metadata = getattr(identity, "metadata", None) or {}
    value = metadata.get(CONSENT_METADATA_KEY)
    text = str(value).strip().lower() if value is not None else ""
    if REFUSAL_TAG in tags or value is False or text in _NO:
        return False
    if CONSENT_TAG in tags or value is True or text in _YES:
        return True
    return None


def _asked(settings: Settings, identity: Any, call: ContentCall) -> Mode:
    """The policy callable's mode; any failure or odd answer means no content."""
    policy = settings.content_policy
    try:
        answer = policy(identity, call)  # type: ignore[misc]
    except Exception as error:  # noqa: BLE001 - the user's callable: fail closed
        warn_once(
            "content:policy-raised",
            "content_policy raised %s; calls it raises for record no content",
            type(error).__name__,
        )
        return Mode.NO_CONTENT
    if answer is None or answer is True:
        return Mode.SPAN_AND_EVENT
    if answer is False:
        return Mode.NO_CONTENT
    mode = (
        answer
        if isinstance(answer, Mode)
        else mode_named(answer if isinstance(answer, str) else "")
    )
    if mode is None:
        warn_once(
            "content:policy-answer",
            "content_policy returned something that is not a mode name; no content recorded",
        )
        return Mode.NO_CONTENT
    return mode


def decide(
    ceiling: Mode, settings: Settings, identity: Any, trusted: bool, call: ContentCall
) -> Mode:
    """The mode of one call: never above `ceiling`."""
    said = _said(identity) if identity is not None else None
    if said is False:
        return Mode.NO_CONTENT
    if settings.content_consent_required and not (said and trusted):
        return Mode.NO_CONTENT
    if settings.content_policy is None:
        return ceiling
    return ceiling & _asked(settings, identity, call)
