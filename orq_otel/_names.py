"""The attribute and metric names orq-otel defines (the GenAI and user ones come from
`opentelemetry.semconv`). Identity, instrumentation and report code all name things here."""

from __future__ import annotations

# Span attributes: the identity, the thread, the cost.
IDENTITY_ID = "orq.identity.id"
IDENTITY_DISPLAY_NAME = "orq.identity.display_name"
IDENTITY_EMAIL = "orq.identity.email"
IDENTITY_TAGS = "orq.identity.tags"
IDENTITY_METADATA_PREFIX = "orq.identity.metadata."
THREAD_ID = "orq.thread.id"
THREAD_TAGS = "orq.thread.tags"
COST = "orq.cost.usd"
# Personal data we may put on spans (only when the user opts in): collector-config.yaml
# hashes each of these, and a test keeps the two lists in step.
PII_ATTRIBUTES = (IDENTITY_EMAIL,)

# Metrics of our own, beside the GenAI client metrics.
CLIENT_COST = "orq.client.cost"
IDENTITY_REJECTED = "orq.identity.rejected"
IDENTITY_OVERFLOW = "orq.identity.overflow"
REJECTION_REASON = "reason"
# The `orq.identity.id` of metric points past `metric_identity_limit` identities.
OVERFLOW_IDENTITY = "_other"

# Content capture (orq_otel._content): set on the span when any content was cut or left out.
CONTENT_TRUNCATED = "orq.content.truncated"
