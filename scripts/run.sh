#!/usr/bin/env bash
# The newcomer's command: installs what Folio needs (Debian packages), builds it in build/,
# and starts it on its sample library.
#   - With a display: opens the desktop app (build/bin/folio); on first run it offers the
#     sample documents (a PDF made at build time and a Markdown file).
#   - Without one: imports the samples into a sample library and answers a sample question
#     in the terminal (quoted passages, or a written answer when FOLIO_MODEL names a
#     Jamba checkpoint folder).
# Usage: scripts/run.sh ["a question about the samples"]
set -euo pipefail
cd "$(dirname "$0")/.."
QUESTION=${1:-"Who was John Harrison and what did his sea clock achieve?"}

bash scripts/setup-deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -G Ninja ${FOLIO_CMAKE_ARGS:-} >/dev/null
echo "run: building Folio in build/ (the first build takes a while)"
cmake --build build -j "$JOBS" --target folio-cli folio folio-pdf-extract folio_samples

SAMPLES=build/share/folio/samples
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: starting the desktop app (build/bin/folio)"
  export FOLIO_SAMPLES_DIR="$PWD/$SAMPLES"
  exec build/bin/folio
fi

DATA=${XDG_DATA_HOME:-$HOME/.local/share}/folio
LIB="$DATA/samples.sqlite"
mkdir -p "$DATA"
echo "run: no display; importing the samples into $LIB"
build/bin/folio-cli ingest --library "$LIB" "$SAMPLES"
echo
echo "run: asking: $QUESTION"
MODEL_ARGS=()
if [ -n "${FOLIO_MODEL:-}" ]; then MODEL_ARGS=(--model "$FOLIO_MODEL"); fi
build/bin/folio-cli ask --library "$LIB" "${MODEL_ARGS[@]}" "$QUESTION"
echo
echo "run: try your own: build/bin/folio-cli ask --library \"$LIB\" \"your question\""
