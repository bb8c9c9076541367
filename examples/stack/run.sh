#!/usr/bin/env bash
# Jaeger, the OpenTelemetry Collector (collector-config.yaml) and Prometheus on this
# machine's loopback, no Docker; then the distributed example, and where to look.
#   bash examples/stack/run.sh [--serve]
# The first run builds the Collector and Jaeger from their pinned Go modules (needs Go;
# several minutes); later runs reuse .otel-bin/. Prometheus is Debian's package (installed
# with apt-get when missing and running as root).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
bash "$ROOT/tools/build.sh"
exec "$PYTHON" "$ROOT/examples/stack/stack.py" "$@"
