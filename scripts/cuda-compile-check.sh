#!/usr/bin/env bash
# Compile check of the `cuda` feature on a machine without a GPU or a CUDA toolkit: installs
# NVIDIA's CUDA 13.4 compiler from PyPI wheels into a virtualenv, points candle's and
# cudarc's build scripts at it, and runs clippy on tdal-encoders and tdal-cli with
# `--features cuda` (all targets, warnings are errors). candle-kernels' build script compiles
# its CUDA kernels with nvcc for compute capability 8.0 (CUDA_COMPUTE_CAP; no GPU to ask);
# nothing is linked or run. docs/PERFORMANCE.md, "GPU", has the times.
#
#   bash scripts/cuda-compile-check.sh
#
# The wheels go to $TDAL_CUDA_WHEELS (default: ~/.cache/tdal-cuda-<version>), kept between
# runs; delete that folder to start cold.
set -euo pipefail
cd "$(dirname "$0")/.."

# One CUDA release, every part pinned (cudarc 0.19 knows CUDA up to 13.4). The nvcc wheel
# pulls in crt (headers), nvvm (cicc) and the runtime's headers; cccl has thrust/cub, which
# candle's reduce kernels include. The cu12 wheels cannot do this: nvidia-cuda-nvcc-cu12
# ships ptxas and libnvvm only, no nvcc driver and no cicc.
CUDA_VERSION=13.4.92
WHEELS=(
    "nvidia-cuda-nvcc==$CUDA_VERSION"
    "nvidia-cuda-crt==$CUDA_VERSION"
    "nvidia-nvvm==$CUDA_VERSION"
    "nvidia-cuda-runtime==$CUDA_VERSION"
    "nvidia-cuda-cccl==13.3.5.0.6"
)

cache="${TDAL_CUDA_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/tdal-cuda-$CUDA_VERSION}"
if [ ! -f "$cache/installed" ]; then
    echo "== installing the CUDA $CUDA_VERSION compiler wheels into $cache"
    rm -rf "$cache"
    python3 -m venv "$cache/venv"
    "$cache/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${WHEELS[@]}"
    touch "$cache/installed"
fi

# The CUDA 13 wheels share one toolkit-shaped folder, nvidia/cu13 (bin/nvcc, nvvm/bin/cicc,
# include/, include/cccl, lib/): that folder is the CUDA root.
root="$(echo "$cache"/venv/lib/python3*/site-packages/nvidia/cu13)"
[ -x "$root/bin/nvcc" ] || { echo "no nvcc in $root/bin" >&2; exit 1; }
export CUDA_HOME="$root" CUDA_PATH="$root"
export PATH="$root/bin:$PATH"
# No GPU to query: compile the kernels for Ampere (sm_80), candle's default.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
# candle-kernels' build script runs nvcc on half the cores unless told otherwise.
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
nvcc --version | tail -n 2

echo "== cargo clippy -p tdal-encoders -p tdal-cli --features cuda --all-targets -- -D warnings"
cargo clippy -p tdal-encoders -p tdal-cli --features cuda --all-targets --locked -- -D warnings
