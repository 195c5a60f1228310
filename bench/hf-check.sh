#!/usr/bin/env bash
# Issue 15 on the GPU machine, in one call: our models in Hugging Face transformers and back.
#   1. a `small` run (gpt2 tokenizer, tinyshakespeare, STEPS steps on BACKEND) is exported with `streamtrain export`;
#      transformers' AutoModelForCausalLM.from_pretrained(export) gives logits equal to ours: within fp32 rounding of
#      ours on the CPU, within bf16 tolerance of ours on CUDA; transformers' generate and our `generate` work.
#   2. a GPT-2 of a random config made by transformers itself (save_pretrained, no download) starts a run with
#      `train --init-from` whose first loss equals transformers' own loss on the same batch (CPU and BACKEND).
# Prints PASS/FAIL lines (and a summary: "hf-check: N passed, M failed"); exit status 1 when anything failed.
# usage (on the GPU machine, from the repository root, .device-carry filled by bench/device-carry.sh): bash bench/hf-check.sh
#   needs python3 with torch and transformers; env: CARRY (default .device-carry), STEPS (default 200),
#   BACKEND (default cuda; cpu runs the same checks without a GPU), WORK (default /tmp/hf-check), OUT (if set, the
#   log goes to $OUT/hf-check.log), JAVA (default /tmp/jre/bin/java, unpacked from the carry), MODEL, BATCH, SEQ_LEN
#   (the trained run's preset and batch shape, default small, 16, 256)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
carry=${CARRY:-.device-carry}
steps=${STEPS:-200}
model=${MODEL:-small}
batch=${BATCH:-16}
seq_len=${SEQ_LEN:-256}
backend=${BACKEND:-cuda}
work=${WORK:-/tmp/hf-check}
export JAVA=${JAVA:-/tmp/jre/bin/java}
log=$work.log
[ -x "$JAVA" ] || CARRY=$carry bash bench/device-unpack.sh
cp="$carry/cli/streamtrain-cli.jar:$carry/lib/*"
st() { "$JAVA" -cp "$cp" io.streamtrain.cli.Main "$@"; }
rm -rf "$work" && mkdir -p "$work"
exec > >(tee "$log") 2>&1
port=19092
bootstrap=localhost:$port
st broker --port $port --data-dir "$work/kafka" > "$work/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null' EXIT
for _ in $(seq 120); do (echo > /dev/tcp/localhost/$port) 2>/dev/null && break; sleep 1; done
fail=0
step() { echo "+ $*"; "$@" || { echo "FAIL command: $*"; fail=1; }; }

echo "== 1. export of a trained $model run, loaded by transformers"
step st produce --bootstrap-servers $bootstrap --topic hf.small --input "$carry/tinyshakespeare.txt" --epochs 3 \
  --tokenizer gpt2 --model "$model" --batch "$batch" --seq-len "$seq_len" --progress none
step st train --bootstrap-servers $bootstrap --application-id hf-small --run-dir "$work/run-small" --model "$model" \
  --tokenizer gpt2 --batch "$batch" --seq-len "$seq_len" --backend "$backend" --max-steps "$steps" -c topic.token.batches=hf.small \
  -c topic.models=hf.models -c sample.every.steps=0 -c summary.every.steps=50 -c learning.rate=1e-3
checkpoint=$(ls "$work"/run-small/checkpoints/step-*.safetensors | tail -n 1)
step st export --format hf --checkpoint "$checkpoint" "$work/export-small"
st generate --checkpoint "$checkpoint" --prompt "ROMEO:" --max-tokens 40 --backend "$backend" > "$work/generated.txt" \
  && echo "PASS streamtrain generate on $backend: $(tr '\n' ' ' < "$work/generated.txt")" \
  || { echo "FAIL streamtrain generate on $backend"; fail=1; }
step python3 bench/hf_check.py logits --export "$work/export-small" --checkpoint "$checkpoint" --java-cp "$cp" \
  --backend "$backend" --ours-generated "$work/generated.txt"

echo "== 2. a random GPT-2 made by transformers starts a run with --init-from"
step python3 bench/hf_check.py random-gpt2 --out "$work/random-gpt2" --context 128 --tokenizer-from "$work/export-small"
head -c 20000 "$carry/tinyshakespeare.txt" > "$work/short.txt"
step st produce --bootstrap-servers $bootstrap --topic hf.random --input "$work/short.txt" --tokenizer gpt2 \
  --batch 4 --seq-len 64 --progress none
ours=()
for b in cpu $([ "$backend" != cpu ] && echo "$backend"); do
  step st train --bootstrap-servers $bootstrap --application-id "hf-random-$b" --run-dir "$work/run-random-$b" \
    --init-from "$work/random-gpt2" --tokenizer gpt2 --batch 4 --seq-len 64 --backend "$b" --max-steps 1 \
    -c topic.token.batches=hf.random -c topic.models=hf.models -c sample.every.steps=0 -c summary.every.steps=1 \
    | tee "$work/train-random-$b.log"
  loss=$(grep -oP 'step +1 \| loss \K[0-9.]+' "$work/train-random-$b.log" | head -n 1)
  grep -q "matches the directory's tokenizer files" "$work/train-random-$b.log" \
    && echo "PASS init.from on $b checked the tokenizer against the directory's tokenizer files" \
    || { echo "FAIL init.from on $b did not say it checked the tokenizer files"; fail=1; }
  if [ -n "$loss" ]; then ours+=("$b=$loss"); else echo "FAIL no first loss in $work/train-random-$b.log"; fail=1; fi
done
[ ${#ours[@]} -gt 0 ] && step python3 bench/hf_check.py first-loss --model "$work/random-gpt2" \
  --tokenizer "$work/random-gpt2" --text "$work/short.txt" --batch 4 --seq-len 64 --ours "${ours[@]}"

sleep 1
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
echo "hf-check: $passed passed, $failed failed (log $log)"
[ -n "${OUT:-}" ] && cp "$log" "$OUT/hf-check.log"
[ "$failed" -eq 0 ] && [ "$fail" -eq 0 ]
