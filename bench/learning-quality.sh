#!/usr/bin/env bash
# Learning quality through Kafka (issue 12): the `small` model (C384 L6 NH6), byte-level, B=64, T=256, lr 1e-3
# with 100 warm-up steps and cosine decay to 1e-4 over 5000 steps, on tinyshakespeare with the project's own
# held-out split (produce --holdout 0.1), shuffled epochs, held-out evaluation every 250 steps; the bar is a best
# held-out loss of at most 1.47 (nanoGPT shakespeare_char: 1.4697, about 3 minutes on an A100).
# usage (GPU machine, repository root, after bench/device-unpack.sh): bench/learning-quality.sh
#   env: CORPUS (default .device-carry/tinyshakespeare.txt, else ../shared/data/tinyshakespeare.txt),
#        STEPS (5000), EPOCHS (90: enough windows for STEPS), SHUFFLE (rows of the shuffle buffer, 65536; 0 = off),
#        DROPOUT (unset: the trainer's default), EVAL_EVERY (250), EVAL_BATCHES (8), OUT (run directory, default
#        runs/learning-quality-<date>), STREAMTRAIN (the command, default: the carried CLI jar, else ./streamtrain)
# Prints the held-out curve (step, held-out loss) and the wall time of the whole run, broker start included.
set -euo pipefail
carry=.device-carry
corpus=${CORPUS:-$carry/tinyshakespeare.txt}
[ -f "$corpus" ] || corpus=../shared/data/tinyshakespeare.txt
steps=${STEPS:-5000}
epochs=${EPOCHS:-90}
shuffle=${SHUFFLE:-65536}
out=${OUT:-runs/learning-quality-$(date -u +%Y%m%d-%H%M%S)}
if [ -n "${STREAMTRAIN:-}" ]; then
  read -r -a cli <<< "$STREAMTRAIN"
elif [ -f "$carry/cli/streamtrain-cli.jar" ]; then
  cli=(/tmp/jre/bin/java ${JAVA_OPTS:--Xmx16g} -cp "$carry/cli/streamtrain-cli.jar:$carry/lib/*" io.streamtrain.cli.Main)
else
  cli=(./streamtrain)
fi
mkdir -p "$out"
start=$(date +%s.%N)
"${cli[@]}" broker --data-dir "$out/kafka" > "$out/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "Kafka broker ready" "$out/broker.log" 2>/dev/null && break; sleep 0.5; done
shape=(--model small --tokenizer byte --batch 64 --seq-len 256)
"${cli[@]}" produce "${shape[@]}" --input "$corpus" --holdout 0.1 --epochs "$epochs" --shuffle "$shuffle" \
  --progress log > "$out/producer.log" 2>&1 &
producer=$!
train=(train "${shape[@]}" --backend cuda --run-dir "$out" --max-steps "$steps" --eval-every "${EVAL_EVERY:-250}"
  --sample-every 1000 -c learning.rate=1e-3 -c learning.rate.warmup.steps=100 -c learning.rate.decay=cosine
  -c learning.rate.decay.steps="$steps" -c learning.rate.floor.ratio=0.1 -c eval.batches="${EVAL_BATCHES:-8}"
  -c checkpoint.every.steps=0 -c summary.every.steps=250)
[ -n "${DROPOUT:-}" ] && train+=(-c dropout="$DROPOUT")
echo "+ ${cli[*]} ${train[*]}"
"${cli[@]}" "${train[@]}" 2>&1 | tee "$out/trainer.log" | grep -E "^eval|best held-out|warning" || true
wait $producer || true
end=$(date +%s.%N)
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); wall time $(echo "$end - $start" | bc) s (broker, producer and trainer)"
grep -E "^eval" "$out/trainer.log" | awk '{print $2, $6}' > "$out/held-out-curve.txt"
echo "held-out curve (step, loss) in $out/held-out-curve.txt"
