"""The OpenAI client's instrumentation: one wrapper at the client's request layer, what an
orq host gets from us, the spans and metrics of each call, streams, prices."""
