#!/usr/bin/env bash
# NCCL on the GPU machine in one call (issue 13): the NCCL tests of model-cuda, then `streamtrain bench` of one model
# against `bench --replicas 1` (the same model as an NCCL world of one: the all-reduce on the trainer's stream between
# the two step graphs) and, when the machine has more GPUs, `bench --replicas <all GPUs>`.
# usage (GPU machine, repository root, .device-carry filled by bench/device-carry.sh here first):
#   bench/nccl-one.sh [CONFIG...]     CONFIG: tiny small gpt2 (default: tiny small)
#   env: STEPS (default 50), OUT (logs and JSON lines), STREAMTRAIN_NCCL_LIBRARY (else the search of README's list)
# The overhead line compares ms/step of the world of one with the plain step: the issue asks for at most 2%.
set -uo pipefail
carry=${CARRY:-.device-carry}
out=${OUT:-/tmp}
steps=${STEPS:-50}
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(tiny small)
bash bench/device-unpack.sh
java=/tmp/jre/bin/java
classpath=$(ls "$carry"/lib/*.jar | tr '\n' ':')
nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
# where NCCL is, for the record (PyTorch's wheel brings one)
find / -name 'libnccl.so.2*' -not -path '/proc/*' 2>/dev/null | head -5

timeout 300 "$java" -Xmx16g -jar "$carry/junit-platform-console-standalone.jar" execute -cp "$classpath" \
  --details=tree --disable-banner --disable-ansi-colors --select-class io.streamtrain.cuda.NcclTest \
  > "$out/nccl-tests.log" 2>&1
echo "NcclTest: exit $?"
grep -E 'tests (found|successful|failed|aborted|skipped)|loaded NCCL|largest weight difference|✘|skipped:' \
  "$out/nccl-tests.log" | cut -c1-400 | head -40

declare -A vocab=([tiny]=8192 [small]=8192 [gpt2]=50257)
declare -A batch=([tiny]=16 [small]=32 [gpt2]=8)
declare -A seqlen=([tiny]=256 [small]=256 [gpt2]=1024)
: > "$out/nccl-bench.jsonl"
for config in "${configs[@]}"; do
  args=(--backend cuda --model "$config" --vocab "${vocab[$config]}" --batch "${batch[$config]}"
        --seq-len "${seqlen[$config]}" --steps "$steps" --warmup 5)
  runs=("" "--replicas 1")
  [ "$gpus" -gt 1 ] && runs+=("--replicas $gpus")
  for extra in "${runs[@]}"; do
    echo "+ bench ${args[*]} $extra"
    # shellcheck disable=SC2086
    timeout 300 "$java" -cp "$carry/cli/streamtrain-cli.jar:$carry/lib/*" io.streamtrain.cli.Main bench "${args[@]}" $extra \
      > "$out/bench.log" 2>&1
    grep -E '^# (backend|all-reduce)|Exception|error' "$out/bench.log" | head -5
    tail -n 1 "$out/bench.log" | sed "s/^{/{\"run\":\"${extra:-plain}\",/" | tee -a "$out/nccl-bench.jsonl"
  done
done
python3 - "$out/nccl-bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
plain = {r["model"]: r for r in rows if r["run"] == "plain"}
print(f"{'model':6} {'run':>12} {'tokens/s':>12} {'ms/step':>8} {'allreduce ms':>12} {'ms/step vs plain':>16}")
for r in rows:
    base = plain.get(r["model"])
    rel = f"{100 * (r['ms_per_step'] / base['ms_per_step'] - 1):+.2f}%" if base and r is not base else "-"
    print(f"{r['model']:6} {r['run']:>12} {round(r['tokens_per_s']):>12,} {r['ms_per_step']:>8.3f} "
          f"{r.get('allreduce_ms', 0):>12.3f} {rel:>16}")
PY
