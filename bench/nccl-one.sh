#!/usr/bin/env bash
# NCCL on the GPU machine in one call (issue 13): the NCCL tests of model-cuda, then `streamtrain bench` of one model
# against `bench --replicas 1` (the same model as an NCCL world of one: the all-reduce on the trainer's stream between
# the two step graphs) and, when the machine has more GPUs, `bench --replicas <all GPUs>`.
# usage (GPU machine, repository root, .device-carry filled by bench/device-carry.sh here first):
#   bench/nccl-one.sh [CONFIG...]     CONFIG: tiny small gpt2 (default: tiny small)
#   env: STEPS (default 50), TEST_TIMEOUT (seconds per test JVM, default 300), REPEAT (default 1: each bench run
#   that many times, interleaved), OUT (logs and JSON lines), STREAMTRAIN_NCCL_LIBRARY (else the search of README's
#   list; when that finds nothing, the first libnccl.so.2 under /usr and /opt)
# The tests: model-cuda's NcclTest and NcclNonBlockingTest, then (its own JVM: it aborts a communicator mid-step) the
# trainer's CollectiveWatchdogNcclTest. The summary compares ms/step of the world of one with the mean plain step: the
# issue asks for at most 2%.
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
found=$(find /usr /opt -name 'libnccl.so.2*' 2>/dev/null | head -5)
echo "$found"

junit() { # junit LOG CLASSPATH CLASS...
  local log=$1 cp=$2; shift 2
  local select=()
  for class in "$@"; do select+=(--select-class "$class"); done
  timeout "${TEST_TIMEOUT:-300}" "$java" -Xmx16g -jar "$carry/junit-platform-console-standalone.jar" execute -cp "$cp" \
    --details=tree --disable-banner --disable-ansi-colors "${select[@]}" > "$log" 2>&1
  echo "$(basename "$log"): exit $?"
  grep -E 'tests (found|successful|failed|aborted|skipped)|loaded NCCL|NCCL here|largest weight|initialisation of a|gave up|step [0-9]+ us|watchdog:|after the abort|✘|skipped:' \
    "$log" | cut -c1-600 | head -40
}
junit "$out/nccl-tests.log" "$classpath" io.streamtrain.cuda.NcclTest io.streamtrain.cuda.internal.NcclNonBlockingTest
if grep -q 'NCCL (libnccl.so.2) was not found' "$out/nccl-tests.log" && [ -n "$found" ]; then
  export STREAMTRAIN_NCCL_LIBRARY=$(echo "$found" | grep 'libnccl.so.2$' | head -1)
  echo "the search found no NCCL; again with STREAMTRAIN_NCCL_LIBRARY=$STREAMTRAIN_NCCL_LIBRARY"
  junit "$out/nccl-tests.log" "$classpath" io.streamtrain.cuda.NcclTest
fi
[ -f "$carry/trainer-tests.jar" ] && junit "$out/watchdog-tests.log" "$classpath$carry/trainer-tests.jar" \
  io.streamtrain.trainer.internal.CollectiveWatchdogNcclTest

declare -A vocab=([tiny]=8192 [small]=8192 [gpt2]=50257)
declare -A batch=([tiny]=16 [small]=32 [gpt2]=8)
declare -A seqlen=([tiny]=256 [small]=256 [gpt2]=1024)
: > "$out/nccl-bench.jsonl"
for config in "${configs[@]}"; do
  args=(--backend cuda --model "$config" --vocab "${vocab[$config]}" --batch "${batch[$config]}"
        --seq-len "${seqlen[$config]}" --steps "$steps" --warmup 5)
  runs=()
  for _ in $(seq "${REPEAT:-1}"); do
    runs+=("" "--replicas 1")
    [ "$gpus" -gt 1 ] && runs+=("--replicas $gpus")
  done
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
def mean(values):
    return sum(values) / len(values)
plain = {}
for r in rows:
    if r["run"] == "plain":
        plain.setdefault(r["model"], []).append(r["ms_per_step"])
print(f"{'model':6} {'run':>12} {'tokens/s':>12} {'ms/step':>8} {'allreduce ms':>12} {'vs mean plain':>14}")
for r in rows:
    base = plain.get(r["model"])
    rel = f"{100 * (r['ms_per_step'] / mean(base) - 1):+.2f}%" if base else "-"
    print(f"{r['model']:6} {r['run']:>12} {round(r['tokens_per_s']):>12,} {r['ms_per_step']:>8.3f} "
          f"{r.get('allreduce_ms', 0):>12.3f} {rel:>14}")
by = {}
for r in rows:
    by.setdefault((r["model"], r["run"]), []).append(r["ms_per_step"])
for (model, run), values in by.items():
    if run != "plain" and model in plain:
        print(f"{model}: {run} mean {mean(values):.3f} ms/step over {len(values)} runs against plain "
              f"{mean(plain[model]):.3f} over {len(plain[model])}: {100 * (mean(values) / mean(plain[model]) - 1):+.2f}%")
PY
