#!/usr/bin/env bash
# Learning quality through Kafka (issue 12): the `small` model (C384 L6 NH6), byte-level, B=64, T=256, lr 1e-3
# with 100 warm-up steps and cosine decay to 1e-4 over 5000 steps, on tinyshakespeare with the project's own
# held-out split (produce --holdout 0.1), shuffled epochs, held-out evaluation every 250 steps; the bar is a best
# held-out loss of at most 1.47 (nanoGPT shakespeare_char: 1.4697, about 3 minutes on an A100).
# usage (GPU machine, repository root, after bench/device-unpack.sh): bench/learning-quality.sh
#   env: CORPUS (default .device-carry/tinyshakespeare.txt, else ../shared/data/tinyshakespeare.txt),
#        STEPS (5000), EPOCHS (90: enough windows for STEPS), SHUFFLE (rows of the shuffle buffer, 65536; 0 = off),
#        DROPOUT (0.2, nanoGPT's; 0 = none), EVAL_EVERY (250), EVAL_BATCHES (8), OUT (run directory, default
#        runs/learning-quality-<date>), STREAMTRAIN (the command, default: the carried CLI jar, else ./streamtrain),
#        SPLIT (holdout: the producer's --holdout 0.1, 10% of 8192-token blocks spread over the corpus; last:
#        nanoGPT's split, the first 90% of the file to train on and the last 10% to evaluate on, produce --split eval),
#        WARMUP (100), COMMIT (printed; default git's HEAD), BROKER_PORT (9092), and for a quick look on a CPU: BACKEND (cuda), MODEL (small),
#        BATCH (64), SEQ_LEN (256), e.g. BACKEND=cpu MODEL=tiny BATCH=4 SEQ_LEN=64 STEPS=20 EVAL_EVERY=10 EPOCHS=2
# Prints the held-out curve (step, held-out loss, training loss of that step) and the wall time of the whole run,
# broker start included; the producer is stopped when the trainer reaches STEPS.
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
port=${BROKER_PORT:-9092}
"${cli[@]}" broker --data-dir "$out/kafka" --port "$port" > "$out/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "Kafka broker ready" "$out/broker.log" 2>/dev/null && break; sleep 0.5; done
shape=(--bootstrap-servers "127.0.0.1:$port" --model "${MODEL:-small}" --tokenizer byte --batch "${BATCH:-64}" --seq-len "${SEQ_LEN:-256}")
if [ "${SPLIT:-holdout}" = last ]; then
  size=$(stat -c %s "$corpus")
  head -c $(( size * 9 / 10 )) "$corpus" > "$out/train.txt"
  tail -c +$(( size * 9 / 10 + 1 )) "$corpus" > "$out/val.txt"
  "${cli[@]}" produce "${shape[@]}" --input "$out/val.txt" --split eval --progress log > "$out/producer-eval.log" 2>&1
  input=(--input "$out/train.txt")
else
  input=(--input "$corpus" --holdout 0.1)
fi
"${cli[@]}" produce "${shape[@]}" "${input[@]}" --epochs "$epochs" --shuffle "$shuffle" \
  --progress log > "$out/producer.log" 2>&1 &
producer=$!
train=(train "${shape[@]}" --backend "${BACKEND:-cuda}" --dropout "${DROPOUT:-0.2}" --run-dir "$out" --max-steps "$steps" --eval-every "${EVAL_EVERY:-250}"
  --sample-every 1000 -c learning.rate=1e-3 -c learning.rate.warmup.steps="${WARMUP:-100}" -c learning.rate.decay=cosine
  -c learning.rate.decay.steps="$steps" -c learning.rate.floor.ratio=0.1 -c eval.batches="${EVAL_BATCHES:-8}"
  -c checkpoint.every.steps=0 -c summary.every.steps="${EVAL_EVERY:-250}")
echo "+ ${cli[*]} ${train[*]}"
"${cli[@]}" "${train[@]}" 2>&1 | tee "$out/trainer.log" | grep -E "^eval|best held-out|warning|rror" || true
end=$(date +%s.%N)
kill $producer 2>/dev/null || true
wait $producer 2>/dev/null || true
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
echo "commit $commit; wall time $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s (broker start, producer and trainer to step $steps)"
# step, held-out loss, training loss of that step (the summary line printed at the same steps)
awk '/^step/ { train[$2] = $5 } /^eval/ { held[$2] = $6; order[++n] = $2 }
     END { for (i = 1; i <= n; i++) print order[i], held[order[i]], (order[i] in train ? train[order[i]] : "-") }' \
  "$out/trainer.log" > "$out/held-out-curve.txt"
echo "held-out curve (step, held-out loss, training loss) in $out/held-out-curve.txt:"
cat "$out/held-out-curve.txt"
grep -E "held out|published|read " "$out"/producer*.log || true
