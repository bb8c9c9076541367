"""A local OpenAI-compatible server, to test apps (and orq_otel itself) offline.

```python
from orq_otel.testing import LocalOpenAIServer

with LocalOpenAIServer() as server:
    client = server.client()  # an openai.OpenAI pointed at the server
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    server.requests[-1].json  # the body the server received
```

It serves ``/chat/completions``, ``/completions``, ``/embeddings``, ``/responses`` and
``/audio/transcriptions`` (a multipart form, read by ``RecordedRequest.form``) under any base
path, as JSON or as server-sent events when ``stream`` is true. Like OpenAI, a
stream carries usage only when ``stream_options.include_usage`` asks for it. A model named
``error-<status>`` answers with that HTTP status and an OpenAI-style error body.

Replies can be scripted, for tool-calling flows and for replaying recorded responses:

```python
server.script(
    MessageReply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
    MessageReply('{"city": "Paris", "celsius": 21}'),
    RawReply(recorded_bytes, content_type="text/event-stream"),
)
```

Each of the next requests takes the next scripted reply, in order; then the default
reply comes back.

It also acts as a plain HTTP forward proxy, so a client whose base URL names another host
(``http://api.orq.ai/v3/router``) can talk to it: see `LocalOpenAIServer.client`. Nothing
leaves the machine.
"""

from __future__ import annotations

from orq_otel.testing._exchange import RawReply, RecordedRequest
from orq_otel.testing._replies import MessageReply, ToolCall
from orq_otel.testing._server import LocalOpenAIServer

__all__ = ["LocalOpenAIServer", "MessageReply", "RawReply", "RecordedRequest", "ToolCall"]
