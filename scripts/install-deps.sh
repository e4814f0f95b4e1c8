#!/usr/bin/env bash
# Installs every build and run dependency of kdaug from Debian's archive.
# Idempotent: packages already present are skipped; apt is only called when something is missing.
set -euo pipefail

# Core build + run dependencies.
PKGS=(
  build-essential cmake make pkg-config ccache
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-openmp     # optimised BLAS; Debian's libtorch otherwise uses the reference BLAS
  dataset-fashion-mnist   # the default data: /usr/share/datasets/fashion-mnist
  libyaml-cpp-dev         # recipes
  libcli11-dev            # command line
  nlohmann-json3-dev      # JSON output
  libstb-dev              # PNG/JPEG writing
  zlib1g-dev              # .gz IDX files
  libgtest-dev googletest # tests
  # Reference checks and benchmarks: torchvision's functional ops, the PyTorch side of the
  # speed comparison, decoding TensorBoard files, rendering the HTML report headless.
  python3 python3-torch python3-torchvision python3-numpy python3-protobuf chromium
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PKGS[@]} packages present"
fi

# Report which BLAS LibTorch will pick up (the alternatives system decides libblas.so.3).
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
echo "install-deps: libblas.so.3 -> ${blas:-unknown}"
