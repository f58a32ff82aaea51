#!/bin/sh
# Runs one libFuzzer target for a bounded time over a scratch copy of its
# corpus (the checked-in corpus is read, never written). A crash fails the
# test and leaves the reproducer in the build tree's fuzz-artifacts/.
set -eu
bin=$1 corpus=$2 secs=$3
name=$(basename "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "fuzz-artifacts/$name"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="fuzz-artifacts/$name/" "$work" "$corpus"
