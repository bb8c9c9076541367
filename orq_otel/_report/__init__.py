"""`orq-otel report`: usage and cost per identity, read from exported spans."""
