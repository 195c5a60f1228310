#!/usr/bin/env bash
# Fills .device-carry/ (ignored by git) with everything the GPU machine needs, within the device tool's 64 MiB:
#   jre.tar.xz    a jlink'd Java runtime (../shared/tools/device-runtime.sh), about 28 MB
#   lib.tar.xz    the CLI jar and its runtime class path, model-cuda's test classes, the trainer's test classes
#                 (trainer-tests.jar, off the CLI's class path) and the JUnit console launcher;
#                 natives cut to linux-x86_64 (JCuda: the driver library only), no RocksDB, no PDF export; the jars
#                 are re-stored uncompressed so that xz compresses across them (unpacks to lib/ and cli/)
#   torch_gpt_bench.py   the PyTorch reference, copied unchanged
#   tinyshakespeare.txt  the corpus for the end-to-end demo
# usage: bench/device-carry.sh   (from anywhere, a clean clone too; MVN_FLAGS=-o builds offline once ~/.m2 has
#        everything, including the JUnit console launcher that the model-cuda profile device-carry fetches)
# On the GPU machine: bench/device-unpack.sh, then model-cuda/device-check.sh, bench/gpu.sh, ./streamtrain ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry=$root/.device-carry
shared=$root/../shared
cd "$root"
# model-cuda's tests are compiled by package (-DskipTests skips running them only); the profile copies the launcher
mvn -q -B ${MVN_FLAGS:-} -DskipTests -P device-carry -pl cli,model-cuda -am package
mkdir -p "$carry"
[ -f "$carry/jre.tar.xz" ] || bash "$shared/tools/device-runtime.sh" "$carry"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/cli"
cp cli/target/streamtrain-cli.jar "$stage/cli/"
cp cli/target/lib/*.jar "$stage/lib/"
rm -f "$stage"/lib/pdfbox-*.jar "$stage"/lib/fontbox-*.jar "$stage"/lib/graphics2d-*.jar
cp model/target/streamtrain-model-*-tests.jar "$stage/lib/"
jar cf "$stage/lib/streamtrain-model-cuda-tests.jar" -C model-cuda/target/test-classes .
cp model-cuda/target/device-carry/junit-platform-console-standalone.jar "$stage/junit-platform-console-standalone.jar"
# the trainer's test classes (its GPU tests: CollectiveWatchdogNcclTest, ...), kept off the CLI's class path lib/*
jar cf "$stage/trainer-tests.jar" -C trainer/target/test-classes .
python3 - "$stage" <<'PY'
import sys, zipfile, pathlib
# Keep linux-x86_64 natives only, and store entries uncompressed (xz then compresses the whole folder far better).
foreign = ("darwin/", "win/", "aix/", "freebsd/", "linux/aarch64", "linux/arm", "linux/i386", "linux/loongarch64",
           "linux/mips64", "linux/ppc64", "linux/riscv64", "linux/s390x", "org/xerial/snappy/native/Mac",
           "org/xerial/snappy/native/Windows", "org/xerial/snappy/native/AIX", "org/xerial/snappy/native/FreeBSD",
           "org/xerial/snappy/native/SunOS", "net/jpountz/util/darwin", "net/jpountz/util/win32")
def keep(name):
    if name.startswith("lib/libJ") and "JCudaDriver" not in name:
        return False   # JCuda: the driver API is all we use
    if name.startswith("org/xerial/snappy/native/Linux/") and "x86_64" not in name:
        return False
    if name.startswith("net/jpountz/util/linux/") and "amd64" not in name:
        return False
    return not any(name.startswith(p) for p in foreign)
for jar in pathlib.Path(sys.argv[1]).rglob("*.jar"):
    with zipfile.ZipFile(jar) as src:
        entries = [(i, src.read(i)) for i in src.infolist() if keep(i.filename)]
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_STORED) as dst:
        for info, data in entries:
            info.compress_type = zipfile.ZIP_STORED
            dst.writestr(info, data)
PY
tar -C "$stage" -cJf "$carry/lib.tar.xz" lib cli junit-platform-console-standalone.jar trainer-tests.jar
cp "$shared/anchors/torch_gpt_bench.py" "$carry/torch_gpt_bench.py"
cp "$shared/data/tinyshakespeare.txt" "$carry/tinyshakespeare.txt"
rm -rf "$carry/lib" "$carry/cli" "$carry/junit-platform-console-standalone.jar" "$carry/trainer-tests.jar"
du -sh "$carry"; ls -l "$carry"
