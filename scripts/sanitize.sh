#!/usr/bin/env bash
# Builds the CPU test suite with sanitizers and runs it (nightly-style; too slow for every CI push).
#   scripts/sanitize.sh [asan|tsan|all] [CTEST_ARGS...]
#     asan  AddressSanitizer + UndefinedBehaviorSanitizer (preset asan): the CPU tests labelled unit and e2e
#     tsan  ThreadSanitizer (preset tsan): the worker, client, protocol and parallel tests
#   extra arguments go to ctest (e.g. -R core- to run a subset)
#   DITSTUDIO_SANITIZE_BUILD_ROOT=dir   put build/<preset> elsewhere      DITSTUDIO_SANITIZE_JOBS=n   build jobs
# LibTorch, OpenMP and Qt are not instrumented: tests/sanitizers/*.supp silences reports whose frames are all in
# those libraries. A report in DiT Studio's own code stops the test (halt_on_error) and fails the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
which="${1:-asan}"
shift || true
supp="$root/tests/sanitizers"
build_root="${DITSTUDIO_SANITIZE_BUILD_ROOT:-$root/build}"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
# die_after_fork=0: the worker and the launcher start rank processes (fork + exec) from threaded processes.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0:suppressions=$supp/tsan.supp"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

run_preset() {
  local preset="$1" selection="$2"
  shift 2
  local build="$build_root/$preset"
  echo "[sanitize] $preset: configure and build in $build"
  cmake --preset "$preset" -B "$build" >/dev/null
  cmake --build "$build" ${DITSTUDIO_SANITIZE_JOBS:+-j "$DITSTUDIO_SANITIZE_JOBS"}
  echo "[sanitize] $preset: ctest $selection $*"
  # shellcheck disable=SC2086 # $selection is a list of ctest options
  ctest --test-dir "$build" --output-on-failure --timeout 1800 $selection "$@"
}

case "$which" in
  asan) run_preset asan "-L unit|e2e -LE gpu|multigpu" "$@" ;;
  tsan) run_preset tsan "-R ^(service|parallel|ui-worker_client)" "$@" ;;
  all)
    run_preset asan "-L unit|e2e -LE gpu|multigpu" "$@"
    run_preset tsan "-R ^(service|parallel|ui-worker_client)" "$@"
    ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan|all] [CTEST_ARGS...]" >&2; exit 2 ;;
esac
