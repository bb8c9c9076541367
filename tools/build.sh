#!/usr/bin/env bash
# Build orq-otel's OpenTelemetry Collector and Jaeger v2 from their pinned Go modules into
# .otel-bin/ (git-ignored), each only when its stamp changed: a hash of its go.mod, go.sum,
# *.go files and the Go version. Module downloads go through the Go module proxy of the
# environment (GOPROXY); Go's module and build caches stay in their default places.
#
#   bash tools/build.sh              # both
#   bash tools/build.sh otelcol      # one of: otelcol jaeger
#
# Prints one line per program: "<name> <path> built in <s> s" or "<name> <path> up to date".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ORQ_OTEL_BIN_DIR:-$ROOT/.otel-bin}
export GOWORK=off CGO_ENABLED=0   # each tool is its own module: no workspace may merge them

# The Go package to build in each tool module.
package_of() {
  case "$1" in
    otelcol) echo "." ;;
    jaeger) echo "github.com/jaegertracing/jaeger/cmd/jaeger" ;;
    *) echo "unknown program: $1 (otelcol or jaeger)" >&2; exit 2 ;;
  esac
}

stamp_of() {
  local dir=$ROOT/tools/$1
  { go version; cd "$dir" && sha256sum go.mod go.sum $(ls ./*.go 2>/dev/null); } | sha256sum | cut -d' ' -f1
}

build() {
  local name=$1 package binary stamp started
  package=$(package_of "$name")
  binary=$BIN/$name
  stamp=$(stamp_of "$name")
  if [ -x "$binary" ] && [ "$(cat "$binary.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$name $binary up to date"
    return
  fi
  mkdir -p "$BIN"
  started=$(date +%s)
  # -mod=readonly: go.mod/go.sum are the pins; a build never rewrites them.
  go build -C "$ROOT/tools/$name" -mod=readonly -trimpath -ldflags="-s -w" \
    -o "$binary.tmp" "$package"
  mv "$binary.tmp" "$binary"
  echo "$stamp" >"$binary.stamp"
  echo "$name $binary built in $(($(date +%s) - started)) s"
}

command -v go >/dev/null 2>&1 || { echo "go is not installed: cannot build the Collector and Jaeger" >&2; exit 3; }
for name in "${@:-otelcol jaeger}"; do
  for one in $name; do build "$one"; done
done
