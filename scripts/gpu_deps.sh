#!/usr/bin/env bash
# On the GPU machine (Ubuntu, no network): unpack the Debian packages carried in .deps/ that the machine lacks
# into /tmp/deps (never into /), and print the environment to use them. Source it: `. scripts/gpu_deps.sh`.
set -u
deps=/tmp/deps
mkdir -p "$deps"
for deb in .deps/*.deb; do
  [[ -f "$deb" ]] || continue
  name=$(basename "$deb" | cut -d_ -f1)
  if ! dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
    dpkg -x "$deb" "$deps"
  fi
done
export PATH="$deps/usr/bin:$PATH"
export CMAKE_PREFIX_PATH="$deps/usr:${CMAKE_PREFIX_PATH:-}"
export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-}"
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export CPATH="$deps/usr/include:${CPATH:-}"
