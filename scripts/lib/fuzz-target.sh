#!/usr/bin/env bash
# Runs one libFuzzer target for test.sh: first its kept regression inputs,
# then a time-limited fuzzing run from its seeds. Writes the logs and an
# exit status file under $EXPRESSO_STATE_DIR/fuzz/<target>/ so that
# test.sh can run several targets at once and report them in order.
#
# Usage: fuzz-target.sh TARGET_PATH SECONDS
set -uo pipefail

target=$1
seconds=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name=$(basename "$target")
seeds=$root/tests/fuzz/corpus/$name
regressions=$root/tests/fuzz/regressions/$name
work=$EXPRESSO_STATE_DIR/fuzz/$name

mkdir -p "$work/corpus" "$work/artifacts" "$seeds"
rm -f "$work/regressions.status" "$work/fuzz.status"

if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
	"$target" "$regressions"/* >"$work/regressions.log" 2>&1
	echo $? >"$work/regressions.status"
fi
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
echo $? >"$work/fuzz.status"
