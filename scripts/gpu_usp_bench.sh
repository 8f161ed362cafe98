#!/usr/bin/env bash
# The USP step benchmark matrix on the GPU machine, from a tree already built with the headless preset:
#   cmake --preset headless ... && cmake --build --preset headless --target ditstudio-cli ditstudio-rank
# For every case (model and video shape) and every world size ≤ the GPUs available, runs `ditstudio-cli bench-usp`
# (one denoising step with CFG = two DiT forwards, bf16, random weights; parallel/usp_bench.h) for each valid split:
#   ulysses  U = n                  ring   R = n
#   hybrid   U × R = n, both ≥ 2    cfg    CFG parallel (2 halves) × the splits of n/2 above, U·R = n/2
# Splits whose Ulysses degree does not divide the model's heads (1.3B: 12, 14B: 40) are skipped and said so.
# Each run has a timeout; a failing run is recorded (ok: false, with its last words) and the others go on.
# Runs already in the results file are skipped, so the script can be run again to continue (e.g. under a 10-minute
# command limit: --budget 500 stops starting runs after 500 s; the next invocation picks up where it stopped).
#
# Usage: scripts/gpu_usp_bench.sh [options] [CASE ...]
#   CASE          MODEL[:FRAMESxHEIGHTxWIDTH], MODEL 1.3B or 14B; default 1.3B:81x480x832
#   --gpus N      GPUs to use (default: all that nvidia-smi lists)
#   --worlds L    world sizes to try, e.g. "1 2 4 8" (default "1 2 4"; those > --gpus are skipped)
#   --kinds L     any of "ulysses ring hybrid cfg" (default all)
#   --iters N     timed steps per run (default 2)      --warmup N   untimed steps first (default 1)
#   --layers L    fewer DiT layers (default: the model's)
#   --compile M   the DiT's compile mode on every rank (default none; "default" = the fused kernels); a compiled
#                 case is its own case ("1.3B:81x480x832 compile=default"), with its own world-1 baseline
#   --timeout S   per run, seconds (default 900)       --budget S   start no run after S seconds (default: none)
#   --out DIR     results directory (default: $OUT, else out/usp_bench)
#   --build DIR   the build tree (default build/headless)
#   --device cpu  run the matrix on CPU ranks instead (tries the script without GPUs; --gpus N is then the rank cap)
#   --fresh       forget earlier results (default: keep them and skip the runs they hold)
#   --table-only  print the table of the results file and exit
# Results: DIR/usp_results.jsonl (one JSON line per run: rank 0's bench-usp result + case, kind, ok), DIR/usp_table.md
# (the markdown table: step time, speedup and efficiency t1 / (n·tn) against the world-1 run of the same case,
# exposed communication time, peak memory per GPU), DIR/usp_run.log (every run's output).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2

gpus="" worlds="1 2 4" kinds="ulysses ring hybrid cfg" iters=2 warmup=1 layers=0 timeout_s=900 budget=0
compile=none
out_dir="${OUT:-out/usp_bench}" build="$root/build/headless" fresh=0 table_only=0 device=cuda
cases=()
while [ $# -gt 0 ]; do
    case "$1" in
        --gpus) gpus=$2; shift 2 ;;
        --worlds) worlds=$2; shift 2 ;;
        --kinds) kinds=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --layers) layers=$2; shift 2 ;;
        --compile) compile=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --out) out_dir=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --fresh) fresh=1; shift ;;
        --table-only) table_only=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gpu_usp_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) cases+=("$1"); shift ;;
    esac
done
[ ${#cases[@]} -gt 0 ] || cases=("1.3B:81x480x832")
mkdir -p "$out_dir" && out_dir="$(cd "$out_dir" && pwd)"
results="$out_dir/usp_results.jsonl"
log="$out_dir/usp_run.log"
table="$out_dir/usp_table.md"
[ "$fresh" = 1 ] && : > "$results"
touch "$results"

print_table() {
    python3 - "$results" "$table" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def label(r):  # the model, and the compile mode when the case has one
    case = str(r.get("case", ""))
    return f'{r.get("model")}' + (f' ({case.split(" ", 1)[1]})' if " compile=" in case else "")


def key(r):  # runs comparable with each other: same case, layers, iterations
    return (r.get("case"), r.get("layers"), r.get("iters"), r.get("warmup"))
t1 = {key(r): r["step_s"] for r in rows if r.get("ok") and r.get("world") == 1}
lines = ["| model | shape (frames×h×w) | tokens | layers | split U×R×CFG | GPUs | step s | speedup | efficiency "
         "| comm s (exposed) | comm % | peak GiB/GPU | status |",
         "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
order = {"baseline": 0, "ulysses": 1, "ring": 2, "hybrid": 3, "cfg": 4}
for r in sorted(rows, key=lambda r: (str(r.get("case")), r.get("world", 0), order.get(r.get("kind"), 9),
                                     -r.get("ulysses", 0))):
    shape = f'{r.get("frames")}×{r.get("height")}×{r.get("width")}'
    split = f'{r.get("ulysses")}×{r.get("ring")}×{r.get("cfg")}'
    n = r.get("world", 0)
    if not r.get("ok"):
        err = str(r.get("error", "")).replace("|", "/")[:200]
        lines.append(f'| {label(r)} | {shape} | {r.get("tokens", "")} | {r.get("layers") or "all"} | {split} '
                     f'| {n} | — | — | — | — | — | — | FAILED (rc {r.get("rc")}): {err} |')
        continue
    base = t1.get(key(r))
    tn = r["step_s"]
    speedup = f"{base / tn:.2f}×" if base else "—"
    eff = f"{base / (n * tn) * 100:.0f}%" if base else "— (no world-1 run)"
    peak = r.get("peak_mem_GiB_max")
    lines.append(f'| {label(r)} | {shape} | {r["tokens"]} | {r["layers"]} | {split} | {n} | {tn:.3f} | {speedup} '
                 f'| {eff} | {r["comm_s"]:.3f} | {100 * r["comm_fraction"]:.1f}% '
                 f'| {peak:.1f} | ok{"" if r.get("output_finite", True) else " (non-finite output!)"} |'
                 if peak is not None else
                 f'| {label(r)} | {shape} | {r["tokens"]} | {r["layers"]} | {split} | {n} | {tn:.3f} | {speedup} '
                 f'| {eff} | {r["comm_s"]:.3f} | {100 * r["comm_fraction"]:.1f}% | — | ok |')
device = next((r.get("device") for r in rows if r.get("ok")), "?")
method = next((r.get("comm_method") for r in rows if r.get("ok")), "?")
text = "\n".join(lines)
text += (f"\n\nDevice: {device}. One step = the conditional and the unconditional DiT forward + the scheduler update; "
         "step s: median over the timed steps of the slowest rank. Efficiency = t1 / (n · tn) against the world-1 run "
         "of the same case. Comm: time spent in the communicators' calls, averaged over the ranks, measured with "
         f"{method}: around every collective, and around wait() of the ring's non-blocking transfers (on CUDA the "
         "time the compute stream waited, i.e. communication not hidden behind compute).\n")
open(sys.argv[2], "w").write(text)
print(text)
PY
}
if [ "$table_only" = 1 ]; then
    print_table
    exit 0
fi

cli="$build/app/cli/ditstudio-cli"
rank="$build/app/rank/ditstudio-rank"
for exe in "$cli" "$rank"; do
    if [ ! -x "$exe" ]; then
        echo "gpu_usp_bench.sh: $exe is missing; build it first:" >&2
        echo "  cmake --preset headless && cmake --build --preset headless --target ditstudio-cli ditstudio-rank" >&2
        exit 2
    fi
done
if [ -z "$gpus" ] && [ "$device" = cuda ]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
fi
if ! [ "${gpus:-0}" -ge 1 ] 2>/dev/null; then
    echo "gpu_usp_bench.sh: no GPU found (nvidia-smi -L); pass --gpus N" >&2
    exit 2
fi

# Never NVLink multicast (NVLS): the machines here do not support it reliably.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export DITSTUDIO_RANK_EXECUTABLE="$rank"
# Libraries that scripts/gpu_bench.sh unpacks for the build (when it was used) are needed at run time too.
[ -d /tmp/deps/usr/lib/x86_64-linux-gnu ] &&
    export LD_LIBRARY_PATH="/tmp/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

say() { echo "[$(date -u +%T)] $*" | tee -a "$log"; }
heads_of() { case "$1" in 1.3B) echo 12 ;; 14B) echo 40 ;; *) echo 0 ;; esac; }
wants() { case " $kinds " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# The splits "kind U R C" of a world of n.
splits_of() {
    local n=$1 half u
    if [ "$n" = 1 ]; then echo "baseline 1 1 1"; return; fi
    wants ulysses && echo "ulysses $n 1 1"
    wants ring && echo "ring 1 $n 1"
    if wants hybrid; then
        for ((u = 2; u <= n / 2; u *= 2)); do echo "hybrid $u $((n / u)) 1"; done
    fi
    if wants cfg && [ $((n % 2)) = 0 ]; then
        half=$((n / 2))
        if [ "$half" = 1 ]; then echo "cfg 1 1 2"; else
            echo "cfg $half 1 2"
            echo "cfg 1 $half 2"
            for ((u = 2; u <= half / 2; u *= 2)); do echo "cfg $u $((half / u)) 2"; done
        fi
    fi
}

already_done() { # case U R C
    python3 - "$results" "$1" "$2" "$3" "$4" "$layers" "$iters" "$warmup" <<'PY'
import json, sys
_, path, case, u, r, c, layers, iters, warmup = sys.argv
for line in open(path):
    if not line.strip():
        continue
    x = json.loads(line)
    if (x.get("case"), x.get("ulysses"), x.get("ring"), x.get("cfg"), x.get("layers_asked", 0), x.get("iters"),
            x.get("warmup")) == (case, int(u), int(r), int(c), int(layers), int(iters), int(warmup)):
        sys.exit(0)
sys.exit(1)
PY
}

start_all=$(date +%s)
say "gpu_usp_bench: $gpus GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1);" \
    "cases ${cases[*]}; worlds $worlds; kinds $kinds; iters $iters warmup $warmup layers $layers timeout ${timeout_s}s"
stopped_by_budget=0
for case_spec in "${cases[@]}"; do
    model=${case_spec%%:*}
    shape=81x480x832
    [ "$case_spec" != "$model" ] && shape=${case_spec#*:}
    IFS=x read -r frames height width <<< "$shape"
    case_name="$model:${frames}x${height}x${width}"
    [ "$compile" = none ] || case_name="$case_name compile=$compile"
    heads=$(heads_of "$model")
    if [ "$heads" = 0 ] || [ -z "${width:-}" ]; then
        say "skip case '$case_spec': expected MODEL[:FRAMESxHEIGHTxWIDTH] with MODEL 1.3B or 14B"
        continue
    fi
    for n in $worlds; do
        if [ "$n" -gt "$gpus" ]; then
            say "skip world $n for $case_name: only $gpus GPU(s)"
            continue
        fi
        while read -r kind u r c; do
            [ -n "$kind" ] || continue
            if [ $((heads % u)) != 0 ]; then
                say "skip $case_name ulysses $u × ring $r × cfg $c: ulysses $u does not divide the $heads heads of $model"
                continue
            fi
            if already_done "$case_name" "$u" "$r" "$c"; then
                say "done before: $case_name ulysses $u × ring $r × cfg $c (see $results; --fresh to rerun)"
                continue
            fi
            if [ "$budget" -gt 0 ] && [ $(( $(date +%s) - start_all )) -ge "$budget" ]; then
                stopped_by_budget=1
                break 3
            fi
            cfg_flag=()
            [ "$c" = 2 ] && cfg_flag=(--cfg-parallel)
            json="$out_dir/.run.json"
            rm -f "$json"
            t0=$(date +%s)
            run_out="$out_dir/.run.log"
            echo "==== $case_name $kind ulysses $u ring $r cfg $c ($(date -u +%T))" >> "$log"
            # The CLI stops its rank group at --timeout; the outer timeout is the backstop for the CLI itself.
            timeout --kill-after=30 $((timeout_s + 60)) "$cli" --log-level info bench-usp --model-config "$model" \
                --frames "$frames" --height "$height" --width "$width" --ulysses "$u" --ring "$r" "${cfg_flag[@]}" \
                --device "$device" --dtype bfloat16 --iters "$iters" --warmup "$warmup" --layers "$layers" \
                --compile "$compile" \
                --timeout "$timeout_s" --json "$json" < /dev/null > "$run_out" 2>&1
            rc=$?
            cat "$run_out" >> "$log"
            secs=$(( $(date +%s) - t0 ))
            # Why it failed: the CLI's "error:" line (it names the rank and its last words), else the last lines.
            last=$(grep -m1 '^error:' "$run_out" || grep -v '^\s*$' "$run_out" | tail -3 | tr '\n' ' ')
            last=$(printf '%s' "$last" | cut -c1-600)
            python3 - "$json" "$results" "$rc" "$case_name" "$kind" "$model" "$frames" "$height" "$width" "$u" "$r" \
                "$c" "$layers" "$iters" "$warmup" "$secs" "$last" <<'PY' | tee -a "$log"
import json, os, sys
(_, path, results, rc, case, kind, model, frames, height, width, u, r, c, layers, iters, warmup, secs,
 last) = sys.argv
rc = int(rc)
row = {}
if rc == 0 and os.path.exists(path):
    row = json.load(open(path))
    row["ok"] = True
else:
    row = {"ok": False, "rc": rc, "error": ("timed out; " if rc in (124, 137) else "") + last,
           "model": model, "frames": int(frames), "height": int(height), "width": int(width),
           "world": int(u) * int(r) * int(c), "ulysses": int(u), "ring": int(r), "cfg": int(c),
           "split": f"u{u}r{r}c{c}", "iters": int(iters), "warmup": int(warmup)}
row.update({"case": case, "kind": kind, "layers_asked": int(layers), "run_s": int(secs)})
open(results, "a").write(json.dumps(row) + "\n")
if row["ok"]:
    print(f'  {case} {kind:<8} u{u} r{r} c{c}: step {row["step_s"]:.3f} s, comm {row["comm_s"]:.3f} s, '
          + (f'peak {row["peak_mem_GiB_max"]:.1f} GiB/GPU' if "peak_mem_GiB_max" in row else "peak n/a (cpu)")
          + f' ({secs} s)')
else:
    print(f'  {case} {kind:<8} u{u} r{r} c{c}: FAILED rc {rc} ({secs} s): {row["error"][:300]}')
PY
            rm -f "$json" "$run_out"
        done < <(splits_of "$n")
    done
done
if [ "$stopped_by_budget" = 1 ]; then
    say "budget of ${budget}s spent: stopped; run the same command again to continue"
fi
say "all runs: $(( $(date +%s) - start_all )) s"
print_table
