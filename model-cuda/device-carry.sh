#!/usr/bin/env bash
# Fills .device-carry/ (ignored by git) with what the GPU machine needs to run model-cuda's tests and bench/gpu.sh:
# a jlink'd Java runtime, the jars (JCuda's natives reduced to the driver library: the rest is 25 MB we do not use),
# the JUnit console launcher, and the PyTorch reference copied unchanged.
# usage: model-cuda/device-carry.sh   (from the repository root; builds model and model-cuda with -o)
# Then on the GPU machine (device tool, carry [".device-carry"]):
#   tar -xJf .device-carry/jre.tar.xz -C /tmp && /tmp/jre/bin/java -jar .device-carry/junit-platform-console-standalone.jar \
#     -cp '.device-carry/lib/*' --select-package io.streamtrain.cuda && bench/gpu.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry=$root/.device-carry
m2=${M2_REPOSITORY:-$HOME/.m2/repository}
cd "$root"
mvn -q -o -B -pl model-cuda -am package -DskipTests
mkdir -p "$carry/lib"
rm -f "$carry"/lib/*.jar
[ -f "$carry/jre.tar.xz" ] || bash "$root/../shared/tools/device-runtime.sh" "$carry"
cp model/target/streamtrain-model-0.1.0-SNAPSHOT.jar model/target/streamtrain-model-0.1.0-SNAPSHOT-tests.jar \
   model-cuda/target/streamtrain-model-cuda-0.1.0-SNAPSHOT.jar "$carry/lib/"
jar cf "$carry/lib/streamtrain-model-cuda-0.1.0-SNAPSHOT-tests.jar" -C model-cuda/target/test-classes .
# model-cuda's runtime class path (model's jackson for checkpoints, JCuda), less the full natives jar
mvn -q -o -B -pl model-cuda -am dependency:build-classpath -Dmdep.outputFile="$carry/classpath.txt" -Dmdep.includeScope=runtime
tr ':' '\n' < "$carry/classpath.txt" | grep -v -e jcuda-natives -e /streamtrain- -e junit -e opentest4j -e apiguardian | while read -r jar; do cp "$jar" "$carry/lib/"; done
rm -f "$carry/classpath.txt"
natives=$(mktemp -d)
(cd "$natives" && unzip -q "$m2/org/jcuda/jcuda-natives/12.6.0/jcuda-natives-12.6.0-linux-x86_64.jar" \
   && find lib -name '*.so' ! -name 'libJCudaDriver-*' -delete && jar cf "$carry/lib/jcuda-natives-driver-12.6.0-linux-x86_64.jar" .)
rm -rf "$natives"
# another helper's build may rewrite target/ while we copy it: check that every class of our jars loads
for jar in "$carry"/lib/streamtrain-*.jar; do
  classes=$(unzip -Z1 "$jar" | grep '\.class$' | sed 's/\.class$//; s#/#.#g')
  javap -cp "$jar" $classes > /dev/null || { echo "$jar has a damaged class: run this script again" >&2; exit 1; }
done
cp "$m2/org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar" \
   "$carry/junit-platform-console-standalone.jar"
cp "$root/../shared/anchors/torch_gpt_bench.py" "$carry/torch_gpt_bench.py"
du -sh "$carry"; ls -l "$carry" "$carry/lib"
