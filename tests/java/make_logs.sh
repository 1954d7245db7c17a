#!/bin/sh
# Regenerate the small committed GC logs in tests/java/logs/ from real JVMs (Java 17+).
# Each run is 3 s with a 64 MB heap; PAUSE_MICROS slows the garbage so the logs stay small.
# ZGC also logs gc+heap, for the live bytes its marking finds (its plain "after" includes
# what was allocated during the cycle).
# Usage: sh tests/java/make_logs.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
javac -d "$build" "$here/GcLoad.java"
mkdir -p "$here/logs"
for gc in G1 Parallel Serial Z Shenandoah; do
  for mode in leak stable; do
    out="$here/logs/$(echo $gc | tr A-Z a-z)-$mode.log"
    rm -f "$out"
    tags=gc
    [ "$gc" = Z ] && tags=gc,gc+heap
    java -Xmx64m -XX:+Use${gc}GC "-Xlog:$tags:file=$out:time,uptime,level,tags" -cp "$build" GcLoad $mode 3 400 >/dev/null
  done
done
ls -l "$here/logs"
