#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and a CUDA toolkit (nvcc on PATH): builds tdal
# with the `cuda` feature, runs a smoke TD-FT run on the GPU, and times the SimCLR and
# supervised training steps on the GPU beside the CPU. Under 10 minutes on a recent GPU;
# CPU machines never need it (docs/PERFORMANCE.md, "GPU").
#
#   bash scripts/gpu-check.sh [DATA_DIR]     (default: fixtures/fmnist-mini)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-fixtures/fmnist-mini}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

command -v nvcc >/dev/null || { echo "nvcc not found: install a CUDA toolkit first" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

echo "== build (release, --features cuda)"
cargo build --release -p tdal-cli --features cuda
cargo build --release -p tdal-encoders --features cuda --example simclr_step

echo "== smoke TD-FT run on cuda:0"
./target/release/tdal run --profile smoke --representation td-ft --device cuda:0 \
  --data-dir "$data" --out "$out/runs"

echo "== training steps, GPU then CPU (JSON lines: ms_per_step, items_per_s)"
for device in cuda:0 cpu; do
  ./target/release/examples/simclr_step --device "$device" --steps 20
done
