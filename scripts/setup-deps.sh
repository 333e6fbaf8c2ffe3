#!/usr/bin/env bash
# Installs the Debian 12 packages Folio needs to build, test and run.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake ninja-build pkg-config git ccache
  qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev libgl-dev
  libpoppler-cpp-dev libpoppler-qt6-dev poppler-utils qpdf
  libsentencepiece-dev sentencepiece
  libsqlite3-dev sqlite3
  nlohmann-json3-dev libopenblas-dev
  libgtest-dev libbenchmark-dev
  clang clang-format libclang-rt-14-dev
  xvfb xauth fonts-dejavu-core
  appstream desktop-file-utils dpkg-dev file
)
export DEBIAN_FRONTEND=noninteractive
# 'apt-get update' only when the lists are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
  $SUDO apt-get update -qq
fi
$SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
echo "setup-deps: ${#PKGS[@]} packages present"
