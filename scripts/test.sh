#!/usr/bin/env bash
# Installs what the build needs, builds Folio in build/, and runs the whole test suite.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L engine]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -G Ninja ${FOLIO_CMAKE_ARGS:-}
cmake --build build -j "$JOBS"
# GPU tests skip themselves (exit 77) where there is no GPU.
ctest --test-dir build --output-on-failure -j "$JOBS" "$@"
