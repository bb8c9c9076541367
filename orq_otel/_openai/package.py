"""The openai versions we instrument (checked by BaseInstrumentor and by `.ci/run`)."""

OLDEST_OPENAI = "1.92.0"  # the first with chat.completions.parse outside `beta`
_instruments = (f"openai >= {OLDEST_OPENAI}",)
