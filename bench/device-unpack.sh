#!/usr/bin/env bash
# On the GPU machine, from the repository root: unpacks what bench/device-carry.sh packed into .device-carry/:
# the Java runtime to /tmp/jre and the jars to .device-carry/{lib,cli}. Prints the java to use.
set -euo pipefail
carry=${CARRY:-.device-carry}
[ -x /tmp/jre/bin/java ] || tar -xJf "$carry/jre.tar.xz" -C /tmp
[ -d "$carry/lib" ] || tar -xJf "$carry/lib.tar.xz" -C "$carry"
/tmp/jre/bin/java -version 2>&1 | head -1
