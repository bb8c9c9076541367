#!/usr/bin/env bash
# Pins every environment we install to run, test, demonstrate or benchmark orq-otel, in
# constraints/*.txt. The library keeps ranges in pyproject.toml (users install it into their
# own environments); these files say exactly what the README's commands and .ci/run install.
# Rerun to move every pin to the newest version PyPI serves:
#
#   bash scripts/lock.sh
#
# It needs PyPI only. The resolver, uv, is itself pinned here and installed into .venv-lock.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
TOOL=.venv-lock
PYTHON=${PYTHON:-python3}
if [ "$("$TOOL/bin/uv" --version 2>/dev/null | cut -d" " -f2)" != "$UV_VERSION" ]; then
  "$PYTHON" -m venv --clear "$TOOL"
  "$TOOL/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi

# One lock for every Python the package supports (markers where versions differ), newest
# versions (--upgrade ignores the pins already in the output file).
compile() {
  local out=$1
  shift
  "$TOOL/bin/uv" pip compile --quiet --universal --python-version 3.10 --upgrade --refresh-package openai \
    --custom-compile-command "bash scripts/lock.sh" --output-file "constraints/$out" "$@"
}

compile test.txt pyproject.toml --extra test
# The demo's environment is the tests' minus the test tools: the same versions.
compile examples.txt pyproject.toml --extra examples --constraint constraints/test.txt
compile frameworks.txt pyproject.toml --extra frameworks
compile bench.txt pyproject.toml --extra bench
compile bench-genai.txt pyproject.toml --extra bench-genai
compile phoenix.txt constraints/phoenix.in
# The tests' environment with the oldest openai we support instead of the newest (CI installs
# it into .venv after the newest run): what that openai needs beyond the newest is pinned too.
oldest=$(sed -n 's/^OLDEST_OPENAI = "\([^"]*\)".*/\1/p' orq_otel/_openai/package.py)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -v '^openai==' constraints/test.txt > "$work/test-but-openai.txt"
echo "openai==$oldest" > "$work/oldest-openai.txt"
compile oldest-openai.txt pyproject.toml --extra test --override "$work/oldest-openai.txt" \
  --constraint "$work/test-but-openai.txt"
# The lowest versions pyproject.toml declares for the library and the test extra (its
# dependencies' own dependencies newest): CI runs the tests there too, so every declared
# minimum is one that works.
compile lowest.txt pyproject.toml --extra test --resolution lowest-direct

# Nothing may hold openai back in the tests' pins: the newest release is what users get.
newest=$(echo openai | "$TOOL/bin/uv" pip compile --quiet --no-header --no-annotate - \
  | sed -n 's/^openai==//p')
if ! grep -qx "openai==$newest" constraints/test.txt; then
  echo "constraints/test.txt does not pin the newest openai ($newest):" >&2
  grep '^openai==' constraints/test.txt >&2
  exit 1
fi
echo "locked: constraints/*.txt (openai $newest)"
