#!/usr/bin/env bash
# Builds the headless stack on the GPU machine, checks it and times it beside the DiffSynth baseline, in one run:
#   1. build (cmake --preset headless: no Qt; CUDA kernels for sm_90a) against the system python's LibTorch;
#      Debian packages the machine lacks (seen 2026-11-27: SQLite headers; FFmpeg is absent and optional) come as
#      .deb files in $DEPS_DIR and are unpacked under /tmp/deps (never into /), their .pc files re-rooted there
#   2. ditstudio-cli verify $GOLDEN dit_a dit_b on CUDA, float32 and bfloat16, in every compile mode
#   3. the fused-vs-eager kernel checks (ditstudio-cli bench --check-kernels)
#   4. ditstudio-cli bench for each model in $BENCH_MODELS and each compile mode (max-autotune twice: a cold and
#      a warm autotune cache, i.e. a first and a second process start)
#   5. the DiffSynth anchor (.ref/anchor_bench.py, when $REF_DIR holds it) in the same run
# Usage: scripts/gpu_bench.sh OUTDIR   env: GOLDEN (default .golden), DEPS_DIR (.deps), REF_DIR (.ref),
#        BENCH_MODELS ("1.3B"; "1.3B 14B"), BASELINE_PARTS ("dit13 compile13"), BASELINE14_PARTS ("dit14"),
#        SKIP_VERIFY=1, JOBS (nproc), BUILD (build tree, default build/gpu)
# Results: OUTDIR/summary.txt (the table), results.jsonl (every bench and verify run), kernel_checks.json,
# autotune.json, baseline.json / baseline14.json (the anchor), run.log (everything incl. the environment), build.log.
set -uo pipefail
out="$(mkdir -p "${1:-out}" && cd "${1:-out}" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
golden="$(cd "${GOLDEN:-.golden}" 2>/dev/null && pwd || echo "${GOLDEN:-.golden}")"
deps_src="${DEPS_DIR:-.deps}"
ref_dir="${REF_DIR:-.ref}"
log="$out/run.log"
models="${BENCH_MODELS:-1.3B}"
jobs="${JOBS:-$(nproc)}"
build="${BUILD:-$root/build/gpu}"
cli="$build/app/cli/ditstudio-cli"
say() { echo "[$(date -u +%T)] $*" | tee -a "$out/summary.txt"; }
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1

# ---- environment facts
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    nvcc --version | tail -2
    cmake --version | head -1
    python3 -c 'import torch; print("torch", torch.__version__, torch.utils.cmake_prefix_path, "cudnn", torch.backends.cudnn.version())'
    for h in nlohmann/json.hpp sqlite3.h CLI/CLI.hpp yaml-cpp/yaml.h spdlog/spdlog.h fmt/core.h \
             sentencepiece_processor.h libavcodec/avcodec.h; do
        if [ -e "/usr/include/$h" ]; then echo "present /usr/include/$h"; else echo "absent  /usr/include/$h"; fi
    done
    command -v pkg-config || echo "absent  pkg-config"
} > "$log" 2>&1
say "device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"

# ---- dependencies the machine lacks
mkdir -p /tmp/deps
for deb in "$deps_src"/*.deb; do
    [ -e "$deb" ] || continue
    pkg=$(basename "$deb" | cut -d_ -f1)
    case "$pkg" in
        nlohmann-json3-dev) [ -e /usr/include/nlohmann/json.hpp ] && continue ;;
        libsqlite3-dev|libsqlite3-0) [ -e /usr/include/sqlite3.h ] && continue ;;
        libcli11-dev) [ -e /usr/include/CLI/CLI.hpp ] && continue ;;
        libyaml-cpp*) [ -e /usr/include/yaml-cpp/yaml.h ] && continue ;;
        libsentencepiece*|libprotobuf-lite*) [ -e /usr/include/sentencepiece_processor.h ] && continue ;;
        libssl*) [ -e /usr/include/openssl/ssl.h ] && continue ;;
        pkgconf*|libpkgconf*) command -v pkg-config >/dev/null && continue ;;
    esac
    dpkg -x "$deb" /tmp/deps && echo "unpacked $pkg" >> "$log"
done
export CMAKE_PREFIX_PATH="/tmp/deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="/tmp/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPENSSL_ROOT_DIR=/tmp/deps/usr
# .pc files of unpacked packages name prefix=/usr: point them at /tmp/deps.
if [ -d /tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig ]; then
    sed -i 's|^prefix=/usr$|prefix=/tmp/deps/usr|' /tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
    export PKG_CONFIG_PATH="/tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi
if ! command -v pkg-config >/dev/null && [ -x /tmp/deps/usr/bin/pkgconf ]; then
    mkdir -p /tmp/fakebin && ln -sf /tmp/deps/usr/bin/pkgconf /tmp/fakebin/pkg-config
    export PATH="/tmp/fakebin:$PATH"
fi
echo "pkg-config: $(command -v pkg-config) sentencepiece: $(pkg-config --modversion sentencepiece 2>&1)" >> "$log"

# ---- build
start=$(date +%s)
torch_prefix="$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)")"
if ! { cmake --preset headless -B "$build" -DCMAKE_BUILD_TYPE=Release -DDITSTUDIO_TORCH_PREFIX="$torch_prefix" \
         > "$out/build.log" 2>&1 &&
       cmake --build "$build" --target ditstudio-cli -j "$jobs" >> "$out/build.log" 2>&1; }; then
    say "BUILD FAILED (see build.log)"
    tail -40 "$out/build.log"
    exit 1
fi
say "build: $(( $(date +%s) - start )) s"

results="$out/results.jsonl"
: > "$results"
export XDG_CACHE_HOME=/tmp/ds-cache-verify

# ---- golden cases in every mode
if [ -z "${SKIP_VERIFY:-}" ]; then
    for dtype in float32 bfloat16; do
        for mode in none default reduce-overhead "reduce-overhead --compile-fullgraph" max-autotune \
                    max-autotune-no-cudagraphs; do
            # shellcheck disable=SC2086
            line=$("$cli" verify "$golden" dit_a dit_b --device cuda --dtype $dtype --compile $mode 2>&1 | tee -a "$log" |
                   tr '\n' ' ' | sed 's/  */ /g')
            say "verify $dtype $mode: $(echo "$line" | grep -o '[0-9]* passed, [0-9]* failed, [0-9]* skipped')"
            echo "{\"verify\": \"$dtype $mode\", \"out\": $(printf '%s' "$line" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" >> "$results"
        done
    done
    "$cli" bench --check-kernels --device cuda --json "$out/kernel_checks.json" >> "$log" 2>&1
    python3 - "$out/kernel_checks.json" <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, sys
checks = json.load(open(sys.argv[1]))["kernel_checks"]
print(f"kernel checks: {sum(c['passed'] for c in checks)} passed, {sum(not c['passed'] for c in checks)} failed")
for c in checks:
    if not c["passed"] or (c["op"] == "rmsnorm_rope" and "D1536" in c["shape"]):
        print(("PASS " if c["passed"] else "FAIL ") + c["op"], c["dtype"], c["shape"],
              f"fused {c['fused_rel_l2']:.3e} eager {c['eager_rel_l2']:.3e}", c["note"])
PY
fi

# ---- benches
bench() { # model tag args...
    local model=$1 tag=$2; shift 2
    local file="/tmp/bench_${model}_${tag}.json"
    if "$cli" bench --model-config "$model" --frames 81 --height 480 --width 832 --device cuda --json "$file" "$@" \
        >> "$log" 2>&1; then
        python3 - "$file" "$model" "$tag" "$results" <<'PY' | tee -a "$out/summary.txt"
import json, sys
r = json.load(open(sys.argv[1])); r["tag"] = sys.argv[3]
open(sys.argv[4], "a").write(json.dumps(r) + "\n")
print(f"bench {sys.argv[2]:>4} {sys.argv[3]:<28} median {r['median_s']:.4f} s  first {r['first_call_s']:.2f} s  "
      f"peak {r.get('peak_mem_GiB', 0):.2f} GiB  {r['tflops']:.0f} TFLOP/s  finite={r['output_finite']}")
PY
    else
        say "bench $model $tag FAILED: $(tail -3 "$log" | tr '\n' ' ')"
    fi
}
for model in $models; do
    bench "$model" eager --compile none
    bench "$model" default --compile default
    bench "$model" reduce-overhead --compile reduce-overhead
    if [ "$model" = "1.3B" ]; then
        bench "$model" reduce-overhead-fullgraph --compile reduce-overhead --compile-fullgraph
        rm -rf /tmp/ds-cache-bench
        XDG_CACHE_HOME=/tmp/ds-cache-bench bench "$model" max-autotune-cold --compile max-autotune
        XDG_CACHE_HOME=/tmp/ds-cache-bench bench "$model" max-autotune-warm --compile max-autotune
        XDG_CACHE_HOME=/tmp/ds-cache-bench bench "$model" max-autotune-no-cudagraphs --compile max-autotune-no-cudagraphs
        DITSTUDIO_DISABLE_FUSION=1 bench "$model" default-fusion-disabled --compile default
        cp /tmp/ds-cache-bench/ditstudio/autotune.json "$out/autotune.json" 2>/dev/null
    fi
    # The DiffSynth baseline for this model, same machine, same run.
    if [ -e "$ref_dir/anchor_bench.py" ]; then
        if [ "$model" = "1.3B" ]; then parts="${BASELINE_PARTS:-dit13 compile13}"; file=baseline.json;
        else parts="${BASELINE14_PARTS:-dit14}"; file=baseline14.json; fi
        # shellcheck disable=SC2086
        DIFFSYNTH_ROOT="$ref_dir" python3 "$ref_dir/anchor_bench.py" "$out/$file" $parts >> "$log" 2>&1 ||
            say "baseline $model FAILED: $(tail -3 "$log" | tr '\n' ' ')"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("baseline", {k: v for k, v in r.items() if k.startswith("dit") and not k.endswith("_all")})' \
            "$out/$file" 2>&1 | tee -a "$out/summary.txt"
    fi
done
say "done"
