#!/usr/bin/env bash
# Regenerates the committed PTX of model-cuda from the CUDA C sources, and the manifest of the sources'
# SHA-256 that PtxFreshnessTest checks (git checkouts do not keep modification times).
# usage: model-cuda/build-ptx.sh        (needs nvcc 12.x or 13.x; users of the jar need only the driver)
# Every family gets compute_80 PTX (portable: JIT-compiled by the driver on any cc >= 8.0 GPU); the families
# in HOPPER_FAMILIES also get a compute_90 variant (built with -DSTREAMTRAIN_HOPPER), which the loader picks on
# cc 9.x. None is listed yet: without Hopper-only instructions the compute_90 PTX is the same code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/src/main/cuda
out=$here/src/main/resources/io/streamtrain/cuda/ptx
nvcc=${NVCC:-nvcc}
mkdir -p "$out"
families=(encoder layernorm matmul attention gelu_residual crossentropy adamw sampling)
HOPPER_FAMILIES=()
rm -f "$out"/*.ptx
for family in "${families[@]}"; do
  "$nvcc" -ptx -O3 -std=c++17 -arch=compute_80 -o "$out/$family.sm80.ptx" "$src/$family.cu"
done
for family in "${HOPPER_FAMILIES[@]}"; do
  "$nvcc" -ptx -O3 -std=c++17 -arch=compute_90 -DSTREAMTRAIN_HOPPER -o "$out/$family.sm90.ptx" "$src/$family.cu"
done
# The manifest: one line per source file, "<sha256>  <file name>", sorted by name.
(cd "$src" && sha256sum -- *.cu *.cuh | LC_ALL=C sort -k2) > "$out/sources.sha256"
"$nvcc" --version | tail -1 > "$out/nvcc.version"
ls -l "$out"
