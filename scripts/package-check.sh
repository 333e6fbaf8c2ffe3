#!/usr/bin/env bash
# Builds the .deb and .tar.gz from an existing build/ (scripts/test.sh makes it), installs
# the .deb with apt, runs the installed programs from /usr/bin (version, and an
# ingest-and-search smoke test on a fresh library), then removes the package cleanly.
# Needs root (or sudo). Usage: scripts/package-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

rm -f "$BUILD"/folio_*.deb "$BUILD"/folio-*.tar.gz
(cd "$BUILD" && cpack -G "DEB;TGZ" >/dev/null)
deb=$(ls "$BUILD"/folio_*.deb)
tgz=$(ls "$BUILD"/folio-*.tar.gz)
echo "package-check: built $(basename "$deb") ($(du -h "$deb" | cut -f1)) and $(basename "$tgz")"
dpkg-deb --field "$deb" Depends | tr ',' '\n' | sed 's/^ */  depends: /'
dpkg-deb --contents "$deb" | awk '{print $6}' | grep -E 'bin/folio|folio-pdf-extract|\.desktop|metainfo|icons/.*/256x256|scalable|man1' | sed 's/^/  ships: /'

$SUDO apt-get install -y -qq "$(readlink -f "$deb")" >/dev/null
trap '$SUDO apt-get remove -y -qq folio >/dev/null 2>&1 || true' EXIT

/usr/bin/folio-cli --version
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net /usr/share/metainfo/app.folio.Folio.metainfo.xml >/dev/null
  echo "package-check: metainfo valid"
fi

work=$(mktemp -d)
cat > "$work/notes.md" <<'DOC'
# Field notes

The lighthouse keeper logs the tide twice a day. A **barometer** reading below 990
hectopascals means a storm is coming, and the shutters are closed before dusk.
DOC
/usr/bin/folio-cli ingest --library "$work/lib.sqlite" "$work/notes.md"
hits=$(/usr/bin/folio-cli search --library "$work/lib.sqlite" --json "barometer")
echo "$hits"
echo "$hits" | grep -q '"page":1' || { echo "package-check: search from /usr/bin found nothing"; exit 1; }
rm -rf "$work"

$SUDO apt-get remove -y -qq folio >/dev/null
trap - EXIT
if [ -e /usr/bin/folio-cli ] || dpkg -s folio >/dev/null 2>&1; then
  echo "package-check: folio still installed after removal"; exit 1
fi
echo "package-check: installed, ran from /usr/bin and removed cleanly"
