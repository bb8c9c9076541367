"""Who and what a call is for: the identity and the thread, in this process (the models and
the context API) and across services (the baggage wire format, signing, the edge and
egress guards), and the resolver that completes thin identities. Never imports the
OpenAI instrumentation."""
