"""Prompt and completion content on the LLM span and the content event: opt-in, decided per
identity, redacted and bounded before anything is serialized, hooked or exported."""
