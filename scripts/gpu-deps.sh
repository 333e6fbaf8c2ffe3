#!/usr/bin/env bash
# Fetches, on a Debian 12 machine with apt and a network, the .deb files that the
# engine-only GPU build (FOLIO_ENGINE_ONLY=ON) needs and that the GPU machine's image
# (Ubuntu 24.04, CUDA toolkit, CMake, ninja; no network, no Debian -dev packages) lacks.
# They go to .gpu-deps/ (ignored by git); the device tool carries that folder
# (carry [".gpu-deps"]) and scripts/gpu-check.sh unpacks it with `dpkg -x` into a prefix
# (/tmp/folio-deps) when a dependency is missing there. Nothing is installed here.
#
# Usage: scripts/gpu-deps.sh [DIR]   (default .gpu-deps; run again to refresh)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.gpu-deps}

# Build time: headers, CMake/pkg-config files, link-time .so files, moc.
BUILD_PKGS=(
  nlohmann-json3-dev                       # engine: config/safetensors JSON (header only)
  libsentencepiece-dev libsentencepiece0   # engine: tokenizer (+ trainer for make-tiny-model)
  libopenblas-pthread-dev libopenblas0-pthread  # engine: CPU GEMM (cblas.h, libopenblas.so)
  qt6-base-dev                             # the suites are Qt Test programs: Qt6 CMake files, headers
  libqt6core6 libqt6test6                  # ... and the two Qt libraries they link
  qt6-base-dev-tools                       # moc (CMAKE_AUTOMOC; Qt6CoreTools checks rcc etc. exist)
  qmake6                                   # ... and the qmake6 wrapper too (never run)
  pkgconf pkgconf-bin libpkgconf3          # pkg-config, used only where the image has none
)
# Run time: libraries the ones above need that a CUDA image may lack. gpu-check.sh puts a
# library on LD_LIBRARY_PATH only where the image has no library of that soname, so
# the image's own (newer) copies of common ones (glib, gfortran, gomp) win.
RUNTIME_PKGS=(
  libicu72 libdouble-conversion3 libpcre2-16-0 libb2-1 libglib2.0-0  # libQt6Core, moc
  libgfortran5 libquadmath0 libgomp1                                  # OpenBLAS, libb2
)

mkdir -p "$DIR"
rm -f "$DIR"/*.deb
export DEBIAN_FRONTEND=noninteractive
# The version installed here when there is one, so that the GPU build compiles against the
# same headers as this machine's (where apt can still fetch it); else apt's candidate.
specs=()
for p in "${BUILD_PKGS[@]}" "${RUNTIME_PKGS[@]}"; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2> /dev/null || true)
  if [ -n "$v" ] && apt-cache show "$p=$v" 2> /dev/null | grep -q '^Filename:'; then
    specs+=("$p=$v")
  else
    specs+=("$p")
  fi
done
# apt (user _apt) cannot write into a root-owned checkout; download in a temp dir.
TMP=$(mktemp -d)
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
if ! (cd "$TMP" && apt-get download -q "${specs[@]}") > "$TMP/apt.log" 2>&1; then
  cat "$TMP/apt.log" >&2
  echo "gpu-deps: apt-get download failed (network? run 'apt-get update' first)" >&2
  exit 1
fi
mv "$TMP"/*.deb "$DIR"/

n=$(ls "$DIR"/*.deb | wc -l)
want=$((${#BUILD_PKGS[@]} + ${#RUNTIME_PKGS[@]}))
if [ "$n" -ne "$want" ]; then
  echo "gpu-deps: expected $want .deb files, got $n in $DIR" >&2
  exit 1
fi
ls -1 "$DIR"/*.deb | sed 's|.*/|  |'
echo "gpu-deps: $n packages, $(du -sh "$DIR" | cut -f1) in $DIR"
# The device tool carries at most 64 MiB: this folder plus the tracked and untracked
# (not ignored) files of the working tree.
tree_kib=$( (git ls-files -z; git ls-files -z --others --exclude-standard) |
  du -ck --files0-from=- 2> /dev/null | tail -n1 | cut -f1)
deps_kib=$(du -sk "$DIR" | cut -f1)
echo "gpu-deps: working tree ${tree_kib} KiB + deps ${deps_kib} KiB = $(((tree_kib + deps_kib) / 1024)) MiB of the 64 MiB the device tool carries"
if [ $((tree_kib + deps_kib)) -gt $((56 * 1024)) ]; then
  echo "gpu-deps: WARNING: over 56 MiB; the device call may be refused" >&2
fi
