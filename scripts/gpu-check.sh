#!/usr/bin/env bash
# The GPU check (issue 6): on a machine with one NVIDIA GPU and the CUDA toolkit, build the
# engine-only configuration (FOLIO_ENGINE_ONLY=ON, sm_90a on Hopper), run `ctest -L gpu`,
# then folio-cli's synthetic Jamba-1.5-Mini benchmark at 4K/32K/140K context (bf16; int8
# experts; int8 experts under an 80 GB limit; a --profile run at 32K) and the fixture
# benchmarks. Everything stays under 9 minutes (GPU_CHECK_BUDGET_S, default 540): each step
# has a time limit, capped by what is left, so partial results still land in OUTDIR.
#
# OUTDIR receives at most 7 files (the device tool returns 8): summary.txt (PASS/FAIL/SKIP
# lines and the benchmark tables), bench-bf16.json, bench-int8.json, bench-int8-80g.json,
# bench-profile.json (folio-cli's --json stdout) and logs.tar.gz (every step's log,
# repacked after each step, so a killed run still returns the logs so far).
# Exit status: 0 when every step passed, 1 when one failed or was skipped for time.
#
# Dependencies: the GPU machine's image has nvcc, CMake and ninja but none of the Debian
# -dev packages. Where one is missing, the .deb files that scripts/gpu-deps.sh fetched (run
# it first on the Debian machine) are unpacked with `dpkg -x` into /tmp/folio-deps (never
# /) and CMake, pkg-config, the linker and the loader are pointed there.
#
# The device tool call (after scripts/gpu-deps.sh here; the tree plus .gpu-deps is ~40 MiB):
#   run(command="bash scripts/gpu-check.sh $OUT", carry=[".gpu-deps"], timeout_s=600)
# It needs about 10 of the session's 15 device minutes (machine start included), so there
# is no second full try: build and test here first. The build folder (build-gpu, ignored)
# stays on a warm machine, so a quick rerun there rebuilds incrementally.
#
# Usage: scripts/gpu-check.sh OUTDIR
# Env:   JOBS (default nproc), BUILD_DIR (default build-gpu), FOLIO_CUDA_ARCH (override),
#        GPU_CHECK_BUDGET_S (default 540), FOLIO_GPU_DEPS=auto|carried|system (default auto:
#        carried only where the system lacks a dependency), FOLIO_DEPS_PREFIX (default
#        /tmp/folio-deps), GPU_CHECK_NO_GPU=1 (rehearse without a GPU: build and ctest only),
#        GPU_CHECK_LIMIT_SCALE (default 1: multiplies each step's limit, for slow machines).
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
BUDGET=${GPU_CHECK_BUDGET_S:-540}
DEPS=${FOLIO_DEPS_PREFIX:-/tmp/folio-deps}
NO_GPU=${GPU_CHECK_NO_GPU:-0}
LIMIT_SCALE=${GPU_CHECK_LIMIT_SCALE:-1}  # stretches each step's limit (slow rehearsal machines)
START=$SECONDS
FAILED=0
LOGS=$(mktemp -d /tmp/folio-gpu-logs.XXXXXX)
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

note() { echo "$*" | tee -a "$SUMMARY"; }
indent() { sed 's/^/      /' | tee -a "$SUMMARY"; }
elapsed() { echo $((SECONDS - START)); }
# One archive for all logs: the device tool returns only 8 files.
pack_logs() { tar -czf "$OUT/logs.tar.gz.tmp" -C "$LOGS" . 2> /dev/null &&
  mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"; }
trap 'pack_logs; rm -rf "$LOGS"' EXIT
trap 'exit 143' TERM INT

# run_limited NAME LIMIT STDOUT STDERR CMD...: runs CMD under a time limit capped by what is
# left of the budget (10 s kept for packing), logs it, records PASS/FAIL/SKIP.
run_limited() {
  local name=$1 limit=$2 out=$3 err=$4
  shift 4
  local left=$((BUDGET - $(elapsed) - 10))
  if [ "$left" -lt 5 ]; then
    note "SKIP  $name (no time left: the check keeps under $BUDGET s)"
    FAILED=1
    return 124
  fi
  limit=$((limit * LIMIT_SCALE))
  [ "$limit" -gt "$left" ] && limit=$left
  echo "[$(elapsed) s] $name (limit $limit s): $*"
  local t0=$SECONDS rc
  timeout -k 5 "$limit" "$@" > "$out" 2> "$err"
  rc=$?
  if [ $rc -eq 0 ]; then
    note "PASS  $name ($((SECONDS - t0)) s)"
  else
    local why="exit $rc"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out at $limit s"
    note "FAIL  $name ($why after $((SECONDS - t0)) s; log in logs.tar.gz)"
    tail -n 30 "$err" | sed 's/^/      | /'
    FAILED=1
  fi
  pack_logs
  return $rc
}
# step NAME LOG LIMIT CMD...: stdout and stderr to one log.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  run_limited "$name" "$limit" "$LOGS/$log" "$LOGS/$log" "$@"
}

# ---- 1. The machine -------------------------------------------------------------------
# The device tool sends the working tree, not necessarily .git: say so rather than guess.
if REV=$(git rev-parse --short HEAD 2> /dev/null); then
  git diff --quiet HEAD 2> /dev/null || REV="$REV + uncommitted changes"
else
  REV="? (no git checkout here)"
fi
note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) at $REV"
{ uname -a; cat /etc/os-release 2> /dev/null; nvidia-smi 2>&1; } > "$LOGS/machine.log"
if [ "$NO_GPU" = 1 ]; then
  note "GPU   none (GPU_CHECK_NO_GPU=1: a rehearsal; build and ctest only)"
  CAP=
elif ! nvidia-smi > /dev/null 2>&1; then
  note "FAIL  nvidia-smi: no NVIDIA GPU or driver here (see machine.log)"
  exit 1
else
  note "GPU   $(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader | head -n1)"
  CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
fi
NVCC=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  note "FAIL  no nvcc (install the CUDA toolkit or set CUDACXX)"
  exit 1
fi
for tool in cmake ninja; do
  command -v $tool > /dev/null || { note "FAIL  no $tool on PATH"; exit 1; }
done
note "tools nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), cmake $(cmake --version | head -n1 | cut -d' ' -f3), ninja $(ninja --version), $(${CXX:-c++} --version 2> /dev/null | head -n1), $(. /etc/os-release 2> /dev/null; echo "${PRETTY_NAME:-?}")"

if [ -n "${FOLIO_CUDA_ARCH:-}" ]; then
  ARCH=$FOLIO_CUDA_ARCH
elif [ "$CAP" = "90" ] || [ -z "$CAP" ]; then
  ARCH=90a-real  # Hopper: the sm_90a build the CI also compiles
else
  ARCH=native
fi
note "arch  $ARCH (compute capability ${CAP:-none}), $JOBS jobs, budget $BUDGET s"

# ---- 2. Dependencies ------------------------------------------------------------------
# What the engine-only build needs from the system (CMakeLists.txt, FOLIO_ENGINE_ONLY).
system_has_deps() {
  command -v pkg-config > /dev/null && pkg-config --exists sentencepiece 2> /dev/null &&
    [ -e /usr/include/nlohmann/json.hpp ] &&
    { [ -e /usr/include/cblas.h ] || [ -e /usr/include/x86_64-linux-gnu/cblas.h ]; } &&
    [ -e /usr/lib/x86_64-linux-gnu/cmake/Qt6Test/Qt6TestConfig.cmake ]
}
# Unpacks .gpu-deps/*.deb into $DEPS and sets CMAKE_ARGS and the environment to use it.
use_carried_deps() {
  local ml=$DEPS/usr/lib/x86_64-linux-gnu
  local ob=$ml/openblas-pthread
  rm -rf "$DEPS" && mkdir -p "$DEPS/runtime" || return 1
  local f
  for f in .gpu-deps/*.deb; do
    dpkg -x "$f" "$DEPS" || { echo "dpkg -x $f failed"; return 1; }
  done
  # The .pc files say prefix=/usr.
  local pc
  for pc in "$ml"/pkgconfig/*.pc "$ob"/pkgconfig/*.pc "$DEPS"/usr/share/pkgconfig/*.pc; do
    [ -e "$pc" ] && sed -i "s|^prefix=/usr\$|prefix=$DEPS/usr|" "$pc"
  done
  # The loader gets only the libraries whose soname the image lacks, so that its own
  # (newer, same-ABI) copies of common ones win: a link farm rather than the whole folder.
  local have
  have=$({ ldconfig -p || /sbin/ldconfig -p; } 2> /dev/null | awk 'NR > 1 { print $1 }')
  for f in "$ml"/lib*.so.* "$ob"/lib*.so.* "$DEPS"/lib/x86_64-linux-gnu/lib*.so.*; do
    [ -e "$f" ] || continue
    if [ "${FOLIO_GPU_DEPS:-auto}" = carried ] || ! grep -qxF "${f##*/}" <<< "$have"; then
      ln -sf "$f" "$DEPS/runtime/${f##*/}"
    fi
  done
  echo "runtime libraries taken from the carried packages:"
  ls "$DEPS/runtime"
  export LD_LIBRARY_PATH=$DEPS/runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$ml/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  local link="-Wl,-rpath-link,$ml:$ob"  # libQt6Core's and OpenBLAS's own needs, at link time
  CMAKE_ARGS+=(
    -DCMAKE_PREFIX_PATH="$DEPS/usr"                 # Qt6, nlohmann_json CMake files
    -DCMAKE_LIBRARY_PATH="$ob;$ml" -DCMAKE_INCLUDE_PATH="$DEPS/usr/include"
    -DBLA_VENDOR=OpenBLAS
    # Debian points cblas.h at OpenBLAS with an alternatives link dpkg -x does not make.
    -DCMAKE_CXX_FLAGS="-isystem $DEPS/usr/include/x86_64-linux-gnu/openblas-pthread"
    -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link"
    -DCMAKE_MODULE_LINKER_FLAGS="$link"
    -DPKG_CONFIG_EXECUTABLE="$DEPS/usr/bin/pkgconf")  # the image may have none
}

CMAKE_ARGS=()
MODE=${FOLIO_GPU_DEPS:-auto}
if [ "$MODE" = auto ]; then
  if system_has_deps; then MODE=system; else MODE=carried; fi
fi
if [ "$MODE" = carried ]; then
  if ! ls .gpu-deps/*.deb > /dev/null 2>&1; then
    note "FAIL  dependencies missing and no .gpu-deps/*.deb: run scripts/gpu-deps.sh on the" \
      "Debian machine and carry .gpu-deps"
    exit 1
  fi
  t0=$SECONDS
  if use_carried_deps > "$LOGS/deps.log" 2>&1; then
    note "PASS  dependencies: $(ls .gpu-deps/*.deb | wc -l) carried packages unpacked into $DEPS" \
      "($((SECONDS - t0)) s; $(ls "$DEPS/runtime" | wc -l) libraries on LD_LIBRARY_PATH)"
  else
    note "FAIL  unpacking the carried packages (see deps.log)"
    tail -n 20 "$LOGS/deps.log"
    exit 1
  fi
else
  note "PASS  dependencies: the system's own"
fi

# ---- 3. Configure and build -----------------------------------------------------------
step "configure (engine-only, CUDA $ARCH, Release)" configure.log 120 \
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_ENGINE_ONLY=ON \
  -DFOLIO_CUDA=ON -DFOLIO_BUILD_UI=OFF -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${CMAKE_ARGS[@]}" ||
  exit 1
grep -E "^-- (Folio|Found)" "$LOGS/configure.log" | indent
# Where each dependency came from (the carried prefix or the system).
grep -E "^(Qt6_DIR|nlohmann_json_DIR|BLAS_openblas_LIBRARY|pkgcfg_lib_SENTENCEPIECE_sentencepiece|PKG_CONFIG_EXECUTABLE):" \
  "$BUILD/CMakeCache.txt" | indent

# Every suite labelled gpu (test name = target name), the CLI and the CUDA module.
mapfile -t GPU_TESTS < <(ctest --test-dir "$BUILD" -N -L gpu | sed -n 's/^ *Test *#[0-9]*: //p')
mapfile -t ALL_TARGETS < <(ninja -C "$BUILD" -t targets all | sed -n 's/^\([^:/]*\): .*/\1/p')
TARGETS=(folio-cli folio_cuda)
for t in "${GPU_TESTS[@]}"; do
  printf '%s\n' "${ALL_TARGETS[@]}" | grep -qxF "$t" && TARGETS+=("$t")
done
step "build ${TARGETS[*]}" build.log 330 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" ||
  exit 1

# ---- 4. The GPU suites ----------------------------------------------------------------
step "ctest -L gpu (${#GPU_TESTS[@]} suites)" ctest.log 150 \
  ctest --test-dir "$BUILD" -L gpu --output-on-failure
grep -E "tests passed|tests failed|\(Skipped\)|\(Failed\)|\*\*\*" "$LOGS/ctest.log" | indent
if grep -q "(Skipped)" "$LOGS/ctest.log"; then
  if [ "$NO_GPU" = 1 ]; then
    note "      (skips expected: no GPU in a rehearsal)"
  else
    note "FAIL  GPU suites skipped on a GPU machine: the CUDA runtime did not see the device"
    FAILED=1
  fi
fi
grep -h "greedy tokens matching" "$BUILD"/Testing/Temporary/LastTest.log 2> /dev/null | head -n1 |
  indent

if [ "$NO_GPU" = 1 ]; then
  note "total $(elapsed) s; rehearsal without a GPU: benchmarks not run"
  exit $FAILED
fi

# ---- 5. Benchmarks --------------------------------------------------------------------
CLI=$BUILD/bin/folio-cli
# bench TAG LIMIT ARGS...: the synthetic Jamba-1.5-Mini benchmark; --json to bench-TAG.json,
# the table (stderr) into summary.txt.
bench() {
  local tag=$1 limit=$2
  shift 2
  run_limited "bench $tag: $*" "$limit" "$OUT/bench-$tag.json" "$LOGS/bench-$tag.txt" \
    "$CLI" bench --synthetic jamba-1.5-mini --device cuda --json "$@"
  sed 's/.*\r//' "$LOGS/bench-$tag.txt" | indent  # keep the end of \r progress lines
}
CTX=4096,32768,140000
bench bf16 150 --context $CTX --new-tokens 32 --repeat 2
bench int8 150 --context $CTX --new-tokens 32 --repeat 2 --experts-int8
bench int8-80g 120 --context $CTX --new-tokens 32 --repeat 2 --experts-int8 --memory-limit 80G
bench profile 60 --context 32768 --new-tokens 32 --profile

# The fixtures: tiny models, so these show launch overhead and plumbing, not bandwidth.
for model in jamba-tiny-bf16 jamba-tiny; do
  step "bench --device cuda $model" "bench-cuda-$model.log" 40 "$CLI" bench \
    --model "tests/fixtures/$model" --device cuda --prompt-tokens 512 --new-tokens 64
  sed 's/.*\r//' "$LOGS/bench-cuda-$model.log" | indent
done
step "bench --device cpu jamba-tiny-bf16 (for comparison)" bench-cpu.log 40 "$CLI" bench \
  --model tests/fixtures/jamba-tiny-bf16 --device cpu --prompt-tokens 512 --new-tokens 64
sed 's/.*\r//' "$LOGS/bench-cpu.log" | indent

note "total $(elapsed) s; $([ $FAILED -eq 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $FAILED
