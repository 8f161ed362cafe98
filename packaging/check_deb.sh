#!/usr/bin/env bash
# Build the Debian package from the dev build and prove that it installs and starts on a clean Debian 12.
#
#   sudo packaging/check_deb.sh            # build, package, install into a fresh bookworm chroot, smoke-run
#
# Steps:
#   1. build the programs (under the shared build lock) and `cpack -G DEB` in the build folder
#   2. a minimal Debian 12 (bookworm) made once with debootstrap into $DITSTUDIO_CHROOT_BASE, copied afresh to
#      $DITSTUDIO_CHROOT for every run, so each run installs into a system that has never seen the package
#   3. `apt-get install --no-install-recommends ./ditstudio_*.deb` there: apt resolves the package's Depends from
#      Debian alone (a wrong or missing Depends fails here or in step 4)
#   4. smoke runs inside the chroot, nothing of the build machine visible: ditstudio-cli --help, a 1-clip generation
#      on the demo model installed under /usr/share/ditstudio, ditstudio-worker --help, ditstudio-rank --help,
#      ditstudio-train --help, the studio under QT_QPA_PLATFORM=offscreen until `timeout 10` ends it (124), and a
#      --screenshot of its window copied out to $DITSTUDIO_SCREENSHOT (default /tmp/ditstudio-deb-studio.png)
#   5. ffprobe (ffmpeg installed only after the smoke runs) reads the generated MP4
#
# Needs root (debootstrap, chroot, mounts). Environment:
#   DITSTUDIO_BUILD_DIR    build folder (default: build/dev, configured from the dev preset when missing)
#   DITSTUDIO_CHROOT_BASE  pristine bookworm root (default: /work/chroot/bookworm-base)
#   DITSTUDIO_CHROOT       the run's root, replaced each run (default: /work/chroot/bookworm-test)
#   DEBIAN_MIRROR          debootstrap mirror (default: the host's Debian URI, else http://deb.debian.org/debian)
#   SKIP_BUILD=1           package what is already built (no cmake --build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${DITSTUDIO_BUILD_DIR:-$repo/build/dev}"
base="${DITSTUDIO_CHROOT_BASE:-/work/chroot/bookworm-base}"
root="${DITSTUDIO_CHROOT:-/work/chroot/bookworm-test}"
lock=/tmp/ditstudio-build.lock

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "run as root (debootstrap, chroot and mounts need it)"
case "$root" in /|"$repo"|"$repo"/*) fail "DITSTUDIO_CHROOT must be outside the repository" ;; esac

need=()
command -v patchelf >/dev/null || need+=(patchelf)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v cpack >/dev/null || need+=(cmake)
if ((${#need[@]})); then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# 1. Build and package.
if [[ ! -f "$build/CMakeCache.txt" ]]; then
    say "configuring $build (dev preset)"
    (cd "$repo" && flock "$lock" cmake --preset dev)
fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    say "building the programs"
    targets=(ditstudio-cli ditstudio-worker ditstudio-rank ditstudio-train)
    grep -q '^DITSTUDIO_GUI:BOOL=ON' "$build/CMakeCache.txt" && targets+=(ditstudio)
    nice -n 10 flock "$lock" cmake --build "$build" --target "${targets[@]}"
fi
say "cpack -G DEB"
rm -f "$build"/ditstudio_*.deb
start=$(date +%s)
(cd "$build" && nice -n 10 cpack -G DEB)
deb=$(ls "$build"/ditstudio_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1), $(stat -c %s "$deb") bytes, cpack $(($(date +%s) - start)) s)"
dpkg-deb -f "$deb" Depends Installed-Size
dpkg-deb -c "$deb" | awk '$3 > 1000000 {printf "  %8.1f MiB  %s\n", $3/1048576, $6}'

# 2. A clean bookworm root.
if [[ ! -f "$base/etc/debian_version" ]]; then
    mirror="${DEBIAN_MIRROR:-}"
    if [[ -z "$mirror" && -f /etc/apt/sources.list.d/debian.sources ]]; then
        mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    mirror="${mirror:-http://deb.debian.org/debian}"
    say "debootstrap bookworm from $mirror into $base"
    mkdir -p "$(dirname "$base")"
    nice -n 10 debootstrap --variant=minbase bookworm "$base" "$mirror"
    # The same archives and apt settings as this machine (security and updates too, as on an installed system).
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        rm -f "$base/etc/apt/sources.list"
        cp /etc/apt/sources.list.d/debian.sources "$base/etc/apt/sources.list.d/debian.sources"
    fi
    for conf in /etc/apt/apt.conf.d/99artifact-registry; do
        [[ -f "$conf" ]] && cp "$conf" "$base/etc/apt/apt.conf.d/"
    done
fi
say "fresh root $root from $base"
mounted=()
stop_chroot_processes() {
    # The studio starts a ditstudio-worker that outlives it (it keeps models warm): end what runs in this root.
    local p
    for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/root" 2>/dev/null)" == "$root" ]] && kill "${p#/proc/}" 2>/dev/null || true
    done
}
cleanup() {
    stop_chroot_processes
    sleep 1
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev/pts dev; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
done
if awk -v r="$root/" 'index($2, r) == 1 {found=1} END {exit !found}' /proc/mounts; then
    fail "something is still mounted under $root: unmount it first (rm -rf there would reach into it)"
fi
rm -rf "$root"
cp -a "$base" "$root"
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount -t devpts devpts "$root/dev/pts" 2>/dev/null && mounted+=("$root/dev/pts") || true
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# 3. Install: apt resolves Depends from Debian alone.
say "apt-get install ./$(basename "$deb") (no recommends)"
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
before=$(in_root dpkg-query -W -f '${Package}\n' | wc -l)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
    > "$root/tmp/apt-install.log" 2>&1 || { tail -30 "$root/tmp/apt-install.log"; fail "apt-get install"; }
after=$(in_root dpkg-query -W -f '${Package}\n' | wc -l)
echo "installed: $((after - before)) packages (ditstudio and its dependencies) on a $before-package minbase system"
in_root dpkg -s ditstudio | grep -E '^(Status|Version|Installed-Size)'

# 4. Smoke runs inside the chroot.
results=()
check() {  # check NAME EXPECTED_RC COMMAND...
    local name=$1 expect=$2 rc=0
    shift 2
    in_root "$@" > "$root/tmp/$name.log" 2>&1 || rc=$?
    if [[ $rc -eq $expect ]]; then
        results+=("PASS $name (exit $rc)")
    else
        results+=("FAIL $name (exit $rc, expected $expect)")
        tail -20 "$root/tmp/$name.log"
    fi
    if grep -E 'error while loading shared libraries|cannot open shared object|Could not load the Qt platform' \
            "$root/tmp/$name.log"; then
        results+=("FAIL $name: a library or plugin is missing")
    fi
}
say "smoke runs"
check cli-help 0 ditstudio-cli --help
check worker-help 0 ditstudio-worker --help
check rank-help 0 ditstudio-rank --help
check train-help 0 ditstudio-train --help
t0=$(date +%s)
check cli-generate 0 ditstudio-cli generate --inline -p "a red circle moving right on a black background" -o /tmp/x.mp4
gen_s=$(($(date +%s) - t0))
tail -3 "$root/tmp/cli-generate.log"
if [[ -s "$root/tmp/x.mp4" ]]; then
    results+=("PASS generate wrote /tmp/x.mp4 ($(stat -c %s "$root/tmp/x.mp4") bytes, ${gen_s} s)")
else
    results+=("FAIL generate: no /tmp/x.mp4")
fi
check gui-offscreen 124 env QT_QPA_PLATFORM=offscreen timeout 10 ditstudio
tail -5 "$root/tmp/gui-offscreen.log"
# A picture of the window as the installed studio draws it (fonts and icons from the package's Depends).
check gui-screenshot 0 env QT_QPA_PLATFORM=offscreen timeout 60 ditstudio --screenshot /tmp/studio.png \
    --quit-after-screenshot
if [[ -s "$root/tmp/studio.png" ]]; then
    cp "$root/tmp/studio.png" "${DITSTUDIO_SCREENSHOT:-/tmp/ditstudio-deb-studio.png}"
    results+=("PASS studio screenshot: ${DITSTUDIO_SCREENSHOT:-/tmp/ditstudio-deb-studio.png}")
fi

# 5. Read the video back (ffmpeg only now, so the runs above saw nothing but the package's Depends).
if [[ -s "$root/tmp/x.mp4" ]]; then
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg \
        > "$root/tmp/apt-ffmpeg.log" 2>&1 || true
    if probe=$(in_root ffprobe -v error -select_streams v:0 -count_frames \
               -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 /tmp/x.mp4); then
        results+=("PASS ffprobe: $probe (codec,width,height,frames)")
    else
        results+=("FAIL ffprobe could not read /tmp/x.mp4")
    fi
fi

say "results"
printf '%s\n' "${results[@]}"
printf '%s\n' "${results[@]}" | grep -q '^FAIL' && exit 1
echo "all smoke checks passed"
