#!/usr/bin/env bash
# GPU training throughput: ours against the PyTorch reference, in one run on the same GPU.
# usage (on the GPU machine, from the repository root): bench/gpu.sh [CONFIG...]   CONFIG: tiny small gpt2 (default all)
#   env: STEPS (default 50), ANCHOR_CONFIGS (default: the same configs; "none" skips the reference),
#        CARRY (default .device-carry, filled by bench/device-carry.sh), COMMIT (default git rev-parse HEAD),
#        OUT (if set, the JSON lines go to $OUT/gpu-bench.jsonl, the whole output to $OUT/gpu-bench.log), PROFILE=1 (CudaBench only: time every
#        kernel of 3 more steps and print the breakdown), BENCH_ARGS (CudaBench only: more options),
#        JAVA_OPTS (JVM options, e.g. -Dstreamtrain.cuda.graphs=false)
# Ours: `streamtrain bench --backend cuda` when the CLI jar is carried (CARRY/cli/streamtrain-cli.jar, with its
# dependencies in CARRY/lib), else io.streamtrain.cuda.CudaBench from the carried test classes.
# The reference: ../shared/anchors/torch_gpt_bench.py copied unchanged into CARRY, run with --mode all.
set -euo pipefail
carry=${CARRY:-.device-carry}
steps=${STEPS:-50}
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(tiny small gpt2)
anchors=${ANCHOR_CONFIGS:-${configs[*]}}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
java=/tmp/jre/bin/java
CARRY=$carry bash "$(dirname "$0")/device-unpack.sh"
log=$(mktemp)

declare -A vocab=([tiny]=8192 [small]=8192 [gpt2]=50257)
declare -A batch=([tiny]=16 [small]=32 [gpt2]=8)
declare -A seqlen=([tiny]=256 [small]=256 [gpt2]=1024)

echo "commit $commit; $(nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
for config in "${configs[@]}"; do
  args=(--model "$config" --vocab "${vocab[$config]}" --batch "${batch[$config]}" --seq-len "${seqlen[$config]}" --steps "$steps")
  if [ -f "$carry/cli/streamtrain-cli.jar" ]; then
    cmd=("$java" ${JAVA_OPTS:-} -Dstreamtrain.commit="$commit" -cp "$carry/cli/streamtrain-cli.jar:$carry/lib/*" io.streamtrain.cli.Main bench --backend cuda "${args[@]}")
  else
    cmd=("$java" ${JAVA_OPTS:-} -cp "$carry/lib/*" io.streamtrain.cuda.CudaBench "${args[@]}" ${PROFILE:+--profile} ${BENCH_ARGS:-})
  fi
  echo "+ ${cmd[*]}"
  "${cmd[@]}" | tee -a "$log" | tail -n "${SHOW_LINES:-1}"
done
if [ "$anchors" != none ]; then
  for config in $anchors; do
    echo "+ python3 $carry/torch_gpt_bench.py --config $config --mode all --steps $steps"
    python3 "$carry/torch_gpt_bench.py" --config "$config" --mode all --steps "$steps" 2>/dev/null | tee -a "$log"
  done
fi
if [ -n "${OUT:-}" ]; then grep '^{' "$log" > "$OUT/gpu-bench.jsonl"; cp "$log" "$OUT/gpu-bench.log"; fi
python3 - "$log" "$commit" <<'PY'
import json, sys
ours, ref = {}, {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if "backend" in r:
        ours[r["model"]] = r
    elif "mode" in r:
        ref.setdefault(r["config"], {})[r["mode"]] = r["tokens_per_s"]
print(f"\nGPU bench, commit {sys.argv[2]}")
print(f"{'config':7} {'tokens/s':>10} {'ms/step':>8} {'syncs/step':>10} {'alloc B/step':>12} "
      f"{'eager':>9} {'compile':>9} {'graphs':>9} {'x eager':>8} {'x compile':>9} {'x graphs':>8}")
for name, r in ours.items():
    modes = ref.get(name, {})
    def ratio(mode):
        return f"{r['tokens_per_s'] / modes[mode]:.2f}" if mode in modes else "-"
    def tps(mode):
        return f"{modes[mode]:,}" if mode in modes else "-"
    print(f"{name:7} {round(r['tokens_per_s']):>10,} {r['ms_per_step']:>8.2f} {r['host_syncs_per_step']:>10.2f} "
          f"{r['alloc_bytes_per_step']:>12,} {tps('eager'):>9} {tps('compile'):>9} {tps('graphs'):>9} "
          f"{ratio('eager'):>8} {ratio('compile'):>9} {ratio('graphs'):>8}")
PY
