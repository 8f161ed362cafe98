#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan + UBSan) and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET ...]      targets: safetensors pth preset frame manifest
# The seed corpus tests/fuzz/corpus/<target>/ is read, never written; what a run discovers is kept in
# build/fuzz/corpus/<target>/ and reused by the next run. A crash leaves its input in build/fuzz/artifacts/ and
# makes the script fail: turn it into a regression test (tests/core/test_fuzz_regressions.cpp) and fix the code.
#   DITSTUDIO_FUZZ_BUILD=dir   build folder (default build/fuzz)      DITSTUDIO_FUZZ_JOBS=n   parallel build jobs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors pth preset frame manifest)
build="${DITSTUDIO_FUZZ_BUILD:-build/fuzz}"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -G Ninja -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDITSTUDIO_FUZZ=ON \
    -DDITSTUDIO_GUI=OFF -DDITSTUDIO_CUDA=OFF >/dev/null
fi
cmake --build "$build" ${DITSTUDIO_FUZZ_JOBS:+-j "$DITSTUDIO_FUZZ_JOBS"} --target "${targets[@]/#/fuzz_}"

# LibTorch is not instrumented: its allocations at first use (allocator caches, thread pools) are not leaks of ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/sanitizers/ubsan.supp}"
export OMP_NUM_THREADS=1

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  artifacts="$build/artifacts"
  log="$build/fuzz_$target.log"
  mkdir -p "$corpus" "$artifacts"
  echo "[fuzz] $target for ${seconds}s (log: $log)"
  rc=0
  "$build/tests/fuzz/fuzz_$target" "$corpus" "tests/fuzz/corpus/$target" -max_total_time="$seconds" -timeout=25 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/$target-" >"$log" 2>&1 || rc=$?
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
  execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, features \2, corpus \3/p' <<<"$done_line")"
  if ((rc != 0)); then
    failed+=("$target")
    summary+=("$target: FAILED (exit $rc) after ${execs:-?} executions; see $log and $artifacts/$target-*")
  else
    summary+=("$target: ${execs:-?} executions, $cov, no crash")
  fi
done
echo "[fuzz] summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
((${#failed[@]} == 0))
