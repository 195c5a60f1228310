#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .device-carry filled by bench/device-carry.sh:
# model-cuda's tests (JUnit console launcher; classes named one by one: the jlink'd runtime has no zip file system
# for package scanning), then bench/gpu.sh with the given configs.
# usage: model-cuda/device-check.sh [CONFIG...]    env: OUT (logs), SKIP_TESTS=1, SKIP_BENCH=1, and bench/gpu.sh's
set -uo pipefail
out=${OUT:-/tmp}
bash bench/device-unpack.sh
classpath=$(ls .device-carry/lib/*.jar | tr '\n' ':')
nvidia-smi --query-gpu=name,driver_version,memory.used,clocks.sm --format=csv,noheader
if [ -z "${SKIP_TESTS:-}" ]; then
  start=$(date +%s)
  timeout "${TEST_TIMEOUT:-360}" /tmp/jre/bin/java -Xmx16g -jar .device-carry/junit-platform-console-standalone.jar \
    execute -cp "$classpath" --details=tree --disable-banner \
    $(for c in CudaDeviceTest PtxFreshnessTest KernelFamilyTest CudaAttentionTest CudaWideShapesTest CudaKernelsCompatibilityTest CudaPipelinedMatmulCompatibilityTest CudaHopperMatmulCompatibilityTest CudaHopperMatmulTest CudaBf16CopiesTest CudaGptCompatibilityTest CudaGptWgmmaCompatibilityTest CudaGenerationTest CudaStepGraphTest CudaDropoutTest; \
      do echo --select-class io.streamtrain.cuda.$c; done) \
    --disable-ansi-colors > "$out/tests.log" 2>&1
  echo "tests: exit $? after $(( $(date +%s) - start )) s"
  grep -E 'tests (found|successful|failed|aborted|skipped)' "$out/tests.log"
  grep -E '✘' -A2 "$out/tests.log" | cut -c1-400 | head -60
  # the worst error per kernel and output, from the kit's lines
  grep -E 'max relative error' "$out/tests.log" | awk '{k=$1" "$2; e=$(NF-2); if (!(k in m) || e+0 > m[k]+0) m[k]=e} END {for (k in m) printf "%s %s; ", k, m[k]; print ""}'
  sed -n '/golden state on/,/^[^ ]/p' "$out/tests.log" | head -40
  grep -E 'greedy on|sampled on|opened |step graphs' "$out/tests.log" | cut -c1-300
fi
if [ -z "${SKIP_BENCH:-}" ]; then
  timeout "${BENCH_TIMEOUT:-400}" bench/gpu.sh "$@"
fi
