#!/usr/bin/env bash
# Regenerates the committed PTX of model-cuda from the CUDA C sources, and the manifest that PtxFreshnessTest checks:
# the SHA-256 of every source file and of this script, and the compiler flags (git checkouts do not keep
# modification times).
# usage: model-cuda/build-ptx.sh          builds (needs nvcc 12.x or 13.x; users of the jar need only the driver)
#        model-cuda/build-ptx.sh --list   prints the families and flags it would build with (needs no nvcc)
# The families are read from KernelFamily.java (one constant per line, NAME("file", hopperVariant)), the one list
# that the PTX loader and the tests read too. Every family gets compute_80 PTX (portable: JIT-compiled by the driver
# on any cc >= 8.0 GPU); the families whose hopperVariant is true also get a compute_90a variant (built with
# -DSTREAMTRAIN_HOPPER: their Hopper-only kernels, such as wgmma, too), which the loader picks on cc 9.0 (compute_90a
# runs there alone). Nothing is replaced unless every file compiles.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/src/main/cuda
out=$here/src/main/resources/io/streamtrain/cuda/ptx
list=$here/src/main/java/io/streamtrain/cuda/internal/KernelFamily.java
nvcc=${NVCC:-nvcc}
portable_flags=(-ptx -O3 -std=c++17 -arch=compute_80)
hopper_flags=(-ptx -O3 -std=c++17 -gencode=arch=compute_90a,code=compute_90a -DSTREAMTRAIN_HOPPER)

families=()
hopper_families=()
while read -r family hopper; do
  families+=("$family")
  if [ "$hopper" = true ]; then
    hopper_families+=("$family")
  fi
done < <(sed -nE 's/^ *[A-Z0-9_]+\("([a-z0-9_]+)", (true|false)\)[,;]$/\1 \2/p' "$list")
if [ ${#families[@]} -eq 0 ]; then
  echo "build-ptx.sh: no kernel families found in $list (expected lines like MATMUL(\"matmul\", false),)" >&2
  exit 1
fi

if [ "${1:-}" = --list ]; then
  for family in "${families[@]}"; do
    echo "family $family"
  done
  for family in "${hopper_families[@]+"${hopper_families[@]}"}"; do
    echo "hopper $family"
  done
  echo "flags sm80 ${portable_flags[*]}"
  echo "flags sm90 ${hopper_flags[*]}"
  exit 0
fi

if ! command -v "$nvcc" > /dev/null 2>&1; then
  echo "build-ptx.sh: $nvcc not found: install the CUDA toolkit 12.x or 13.x or set NVCC=/path/to/nvcc;" \
       "the committed PTX is left as it is" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for family in "${families[@]}"; do
  "$nvcc" "${portable_flags[@]}" -o "$tmp/$family.sm80.ptx" "$src/$family.cu"
done
for family in "${hopper_families[@]+"${hopper_families[@]}"}"; do
  "$nvcc" "${hopper_flags[@]}" -o "$tmp/$family.sm90.ptx" "$src/$family.cu"
done
# The manifest: "<sha256>  <file name>" for every source file and this script, sorted by name, then the flags.
{
  (cd "$src" && sha256sum -- *.cu *.cuh && cd "$here" && sha256sum -- build-ptx.sh) | LC_ALL=C sort -k2
  echo "flags sm80 ${portable_flags[*]}"
  echo "flags sm90 ${hopper_flags[*]}"
} > "$tmp/sources.sha256"
"$nvcc" --version | tail -1 > "$tmp/nvcc.version"

mkdir -p "$out"
rm -f "$out"/*.ptx
mv "$tmp"/*.ptx "$tmp/sources.sha256" "$tmp/nvcc.version" "$out"/
ls -l "$out"
