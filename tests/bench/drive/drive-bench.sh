#!/usr/bin/env bash
# Benchmark of expresso-drive against dd on the same disk: uploads
# EXPRESSO_BENCH_SIZE_MIB (default 1024) MiB through tus in 16 MiB PATCHes
# to the stack's drive (local-disk backend) and downloads it back, then
# has dd write the same size with conv=fsync into the drive's storage
# directory and read it back. Prints MB/s (10^6 bytes/s) for each and the
# ratios drive/dd. Reads are from the page cache for both, since the file
# was just written; the script does not drop caches on a shared machine.
#
# Needs a running stack: set -a; . .local/dev/stack.env; set +a
# Usage: tests/bench/drive/drive-bench.sh [runs]   (default 3; the best run of each counts)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-3}
size_mib=${EXPRESSO_BENCH_SIZE_MIB:-1024}
chunk=$((16 * 1024 * 1024))
: "${EXPRESSO_DRIVE_URL:?source .local/dev/stack.env first}"
: "${EXPRESSO_STATE_DIR:?source .local/dev/stack.env first}"
storage=$EXPRESSO_STATE_DIR/storage
work=$(mktemp -d "$storage/.bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

token=$("$repo/scripts/dev-token.sh" "${EXPRESSO_ALICE_EMAIL:-alice@demo.expresso.test}")
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$work/source"

# Prints the rate of a dd run from its last line ("... bytes ... copied, S s, R MB/s").
dd_rate() {
	dd "$@" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "bytes") b = $1; split($0, p, ", "); s = p[3]; sub(/ s$/, "", s); printf "%.1f\n", b / s / 1e6 }'
}

best_up=0 best_down=0 best_dd_write=0 best_dd_read=0
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
for run in $(seq 1 "$runs"); do
	result=$(node "$repo/tests/bench/drive/drive-bench.mjs" "$EXPRESSO_DRIVE_URL" "$token" "$work/source" "$chunk")
	up=$(echo "$result" | jq -r '.upload_mb_s')
	down=$(echo "$result" | jq -r '.download_mb_s')
	dd_write=$(dd_rate if="$work/source" of="$work/dd-copy" bs=16M conv=fsync)
	dd_read=$(dd_rate if="$work/dd-copy" of=/dev/null bs=16M)
	rm -f "$work/dd-copy"
	printf 'run %d: drive upload %.1f, download %.1f; dd write %.1f, read %.1f MB/s\n' "$run" "$up" "$down" "$dd_write" "$dd_read" >&2
	best_up=$(max "$best_up" "$up")
	best_down=$(max "$best_down" "$down")
	best_dd_write=$(max "$best_dd_write" "$dd_write")
	best_dd_read=$(max "$best_dd_read" "$dd_read")
done

printf '\n%s MiB, tus chunks of 16 MiB, best of %d runs\n\n' "$size_mib" "$runs"
printf '| direction | expresso-drive MB/s | dd MB/s | ratio |\n|---|---|---|---|\n'
awk -v u="$best_up" -v w="$best_dd_write" 'BEGIN { printf "| upload (dd write, conv=fsync) | %.1f | %.1f | %.2f |\n", u, w, u / w }'
awk -v d="$best_down" -v r="$best_dd_read" 'BEGIN { printf "| download (dd read) | %.1f | %.1f | %.2f |\n", d, r, d / r }'
