#!/usr/bin/env bash
# Screenshots of the desktop app, one PNG per panel, so anyone can look at what a user sees.
# Usage: scripts/screenshots.sh OUTDIR [BUILD_DIR]
# Starts build/bin/folio under Xvfb on a fresh library (the app offers the sample documents
# on first run and the tour adds them), opens the library, search, reader, chat and
# settings in turn (folio --screenshot-tour) and saves OUTDIR/NN-panel.png; with a tiny
# test model made by folio-cli, the settings validate it and 07-model-chat shows its answer.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/screenshots.sh OUTDIR [BUILD_DIR]}
BUILD=${2:-build}
if [ ! -x "$BUILD/bin/folio" ]; then
  echo "screenshots: $BUILD/bin/folio not found; build first (cmake --build $BUILD --target folio)" >&2
  exit 2
fi
if ! command -v xvfb-run >/dev/null; then
  echo "screenshots: xvfb-run not found; run scripts/setup-deps.sh" >&2
  exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Settings and the library live in the temporary folder: the person's own stay untouched.
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" XDG_CACHE_HOME="$WORK/cache"
export FOLIO_SAMPLES_DIR="$PWD/resources/samples"
# A tiny test model (gibberish answers, real paths) for the model panels, when the CLI is built.
if [ -x "$BUILD/bin/folio-cli" ] && "$BUILD/bin/folio-cli" make-tiny-model --out "$WORK/tiny-model" >/dev/null; then
  export FOLIO_TOUR_MODEL="$WORK/tiny-model"
fi
export QT_QPA_PLATFORM=xcb
timeout 300 xvfb-run -a -s "-screen 0 1600x1000x24 -dpi 96" \
  "$BUILD/bin/folio" --library "$WORK/library.sqlite" --screenshot-tour "$OUT"
ls -1 "$OUT"/*.png
