#!/usr/bin/env bash
# On a machine with one NVIDIA GPU and the CUDA toolkit: configure for the GPU (sm_90a on
# Hopper, the GPU's own architecture otherwise), build the GPU suites and folio-cli, run
# `ctest -L gpu`, a short benchmark on the fixtures, and write logs and summary.txt to
# OUTDIR. Meant to finish in under 8 minutes; exits non-zero if any step fails or if the
# GPU suites skip (a skip on a GPU machine means the device was not usable).
#
# Usage: scripts/gpu-check.sh OUTDIR
# Env:   JOBS (default nproc), BUILD_DIR (default build-gpu), FOLIO_CUDA_ARCH (override)
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
START=$SECONDS
FAILED=0
: > "$OUT/summary.txt"

note() { echo "$*" | tee -a "$OUT/summary.txt"; }
# step NAME LOG TIMEOUT_S CMD...: runs CMD with a time limit, logs it, records PASS/FAIL.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    note "PASS  $name ($((SECONDS - t0)) s, log $log)"
  else
    note "FAIL  $name (exit $rc after $((SECONDS - t0)) s, log $log)"
    FAILED=1
  fi
  return $rc
}

note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; then
  note "FAIL  nvidia-smi: no NVIDIA GPU or driver here (see nvidia-smi.txt)"
  exit 1
fi
note "GPU   $(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader | head -n1)"

# Build dependencies: only when something is missing (setup-deps.sh needs apt and a network).
if ! command -v cmake > /dev/null || ! command -v ninja > /dev/null ||
   ! pkg-config --exists sentencepiece poppler-cpp 2> /dev/null ||
   ! [ -e /usr/lib/x86_64-linux-gnu/cmake/Qt6/Qt6Config.cmake ]; then
  step "install build dependencies" setup-deps.log 300 bash scripts/setup-deps.sh || exit 1
fi
NVCC=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  note "FAIL  no nvcc (install the CUDA toolkit or set CUDACXX)"
  exit 1
fi
note "nvcc  $("$NVCC" --version | tail -n1)"

CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
if [ -n "${FOLIO_CUDA_ARCH:-}" ]; then
  ARCH=$FOLIO_CUDA_ARCH
elif [ "$CAP" = "90" ]; then
  ARCH=90a-real  # Hopper: the sm_90a build the CI also compiles
else
  ARCH=native
fi
note "arch  $ARCH (compute capability $CAP), $JOBS jobs"

step "configure" configure.log 120 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DFOLIO_CUDA=ON -DFOLIO_BUILD_UI=OFF -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" || exit 1
step "build (GPU suites, folio-cli)" build.log 330 cmake --build "$BUILD" -j "$JOBS" --target \
  test_gpu_ssm test_gpu_attention test_gpu_dense test_gpu_model test_cuda_loader folio-cli || exit 1

step "ctest -L gpu" ctest.log 240 ctest --test-dir "$BUILD" -L gpu --output-on-failure
grep -E "tests passed|tests failed|Skipped|Failed|\*\*\*" "$OUT/ctest.log" | sed 's/^/      /' | tee -a "$OUT/summary.txt"
if grep -q "Skipped" "$OUT/ctest.log"; then
  note "FAIL  GPU suites skipped on a GPU machine: the CUDA runtime did not see the device"
  FAILED=1
fi
grep -h "greedy tokens matching" "$BUILD"/Testing/Temporary/LastTest.log 2> /dev/null | head -n1 |
  sed 's/^/      /' | tee -a "$OUT/summary.txt"

# Benchmarks on the fixtures: tiny models, so these show launch overhead and plumbing, not
# the GPU's bandwidth (that is the next issue's measurement at Jamba-1.5-Mini shape).
CLI="$BUILD/bin/folio-cli"
for model in jamba-tiny-bf16 jamba-tiny; do
  step "bench --device cuda $model" "bench-cuda-$model.log" 60 "$CLI" bench \
    --model "tests/fixtures/$model" --device cuda --prompt-tokens 512 --new-tokens 64
  sed 's/^/      /' "$OUT/bench-cuda-$model.log" | grep -E "prefill|decode" | tee -a "$OUT/summary.txt"
done
step "bench --device cpu jamba-tiny-bf16 (for comparison)" bench-cpu.log 60 "$CLI" bench \
  --model tests/fixtures/jamba-tiny-bf16 --device cpu --prompt-tokens 512 --new-tokens 64
sed 's/^/      /' "$OUT/bench-cpu.log" | grep -E "prefill|decode" | tee -a "$OUT/summary.txt"

note "total $((SECONDS - START)) s; $([ $FAILED -eq 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $FAILED
