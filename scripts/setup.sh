#!/usr/bin/env bash
# Takes a fresh Debian 12 machine to a state where DiT Studio builds: Debian packages through apt-get, and
# LibTorch from PyPI's torch wheel (pinned to the GPU machine's version) in a project-local virtual environment.
# Idempotent: a second run checks what is there and returns in seconds.
#   DITSTUDIO_NO_GUI=1  skip the Qt packages (headless build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
torch_version="2.11.0"
venv="${DITSTUDIO_VENV:-$root/.venv}"

packages=(build-essential cmake ninja-build ccache pkg-config git python3-venv
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libsentencepiece-dev libsqlite3-dev nlohmann-json3-dev libpng-dev
  libssl-dev
  clang libclang-rt-14-dev) # clang + libFuzzer/sanitizer runtimes: scripts/fuzz.sh
if [[ "${DITSTUDIO_NO_GUI:-0}" != 1 ]]; then
  packages+=(qt6-base-dev qt6-base-dev-tools libgl-dev xvfb xauth)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "[setup] Debian packages present"
fi

python_bin="$(command -v python3)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "[setup] creating virtual environment $venv"
  "$python_bin" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$torch_version') else 1)" 2>/dev/null; then
  echo "[setup] installing torch==$torch_version from PyPI into $venv (LibTorch for C++)"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version"
else
  echo "[setup] torch $torch_version present in $venv"
fi
