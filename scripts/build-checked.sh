#!/bin/bash
# Builds the package and its tests and fails on any compiler warning in the
# project's own files (dependencies' warnings are theirs). Used by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
${SWIFT:-swift} build --build-tests "$@" 2>&1 | tee "$log"
if grep -E "^$PWD/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" "$log" | sort -u; then
    echo "error: the build has warnings (above); the project builds with none" >&2
    exit 1
fi
