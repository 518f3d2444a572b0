#!/usr/bin/env bash
# Benchmark of expresso-drive against dd on the same disk: uploads
# EXPRESSO_BENCH_SIZE_MIB (default 1024) MiB through tus in 16 MiB PATCHes
# to the stack's drive (local-disk backend) and downloads it back, then
# has dd write the same size with conv=fsync into the drive's storage
# directory and read it back. Prints MB/s (10^6 bytes/s) for each and the
# ratios drive/dd. Reads are from the page cache for both, since the file
# was just written; the script does not drop caches on a shared machine.
#
# curl is the client both ways, because Node's fetch and http clients
# measured slower than the daemon (about 100 to 550 MB/s against curl's
# 1.8 to 2 GB/s for one download on the loaded 2-core test machine), so
# they timed the client rather than the daemon. Each PATCH is acknowledged
# only after the daemon has fsynced the chunk, and the last one also moves
# the file into storage.
#
# Needs a running stack: set -a; . .local/dev/stack.env; set +a
# Usage: tests/bench/drive/drive-bench.sh [runs]   (default 3; the best run of each counts)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-3}
size_mib=${EXPRESSO_BENCH_SIZE_MIB:-1024}
chunk_mib=16
: "${EXPRESSO_DRIVE_URL:?source .local/dev/stack.env first}"
: "${EXPRESSO_STATE_DIR:?source .local/dev/stack.env first}"
storage=$EXPRESSO_STATE_DIR/storage
work=$(mktemp -d "$storage/.bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

token=$("$repo/scripts/dev-token.sh" "${EXPRESSO_ALICE_EMAIL:-alice@demo.expresso.test}")
size=$((size_mib * 1024 * 1024))
head -c "$size" /dev/urandom >"$work/source"
mkdir "$work/chunks"
split -b "${chunk_mib}M" -d -a 4 "$work/source" "$work/chunks/"

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f\n", b / (e - s) / 1e6 }'; }

# Uploads the chunks of $work/chunks as one tus upload; prints the upload URL.
upload() {
	local name=$1 headers location offset=0 status
	headers=$(curl -sS -o /dev/null -D - -X POST "$EXPRESSO_DRIVE_URL/api/v1/drive/uploads" \
		-H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" -H "Upload-Length: $size" \
		-H "Upload-Metadata: filename $(printf '%s' "$name" | base64 -w0)")
	location=$(printf '%s' "$headers" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
	[ -n "$location" ] || { echo "POST did not create an upload: $headers" >&2; exit 1; }
	for part in "$work"/chunks/*; do
		status=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -T "$part" "$EXPRESSO_DRIVE_URL$location" \
			-H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" -H 'Expect:' \
			-H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $offset")
		[ "$status" = 204 ] || { echo "PATCH at $offset answered $status" >&2; exit 1; }
		offset=$((offset + $(stat -c %s "$part")))
	done
}

# Prints the rate of a dd run from its last line ("... bytes ... copied, S s, R MB/s").
dd_rate() {
	dd "$@" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "bytes") b = $1; split($0, p, ", "); s = p[3]; sub(/ s$/, "", s); printf "%.1f\n", b / s / 1e6 }'
}

best_up=0 best_down=0 best_dd_write=0 best_dd_read=0
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
for run in $(seq 1 "$runs"); do
	name="bench-$(date +%s%N).bin"
	start=$(now)
	upload "$name"
	up=$(rate "$size" "$start" "$(now)")
	id=$(curl -sS -H "Authorization: Bearer $token" "$EXPRESSO_DRIVE_URL/api/v1/drive/folders/root?limit=1000" |
		jq -r --arg name "$name" '.entries[] | select(.name == $name) | .id')
	[ -n "$id" ] || { echo "$name is not listed" >&2; exit 1; }
	received=$(curl -sS -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $token" \
		"$EXPRESSO_DRIVE_URL/api/v1/drive/files/$id/content")
	[ "$received" = "$size" ] || { echo "downloaded $received bytes of $size" >&2; exit 1; }
	start=$(now)
	curl -sS -o /dev/null -H "Authorization: Bearer $token" "$EXPRESSO_DRIVE_URL/api/v1/drive/files/$id/content"
	down=$(rate "$size" "$start" "$(now)")
	curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$EXPRESSO_DRIVE_URL/api/v1/drive/files/$id"
	curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$EXPRESSO_DRIVE_URL/api/v1/drive/trash/$id"

	dd_write=$(dd_rate if="$work/source" of="$work/dd-copy" bs=16M conv=fsync)
	dd_read=$(dd_rate if="$work/dd-copy" of=/dev/null bs=16M)
	rm -f "$work/dd-copy"
	printf 'run %d: drive upload %.1f, download %.1f; dd write %.1f, read %.1f MB/s\n' "$run" "$up" "$down" "$dd_write" "$dd_read" >&2
	best_up=$(max "$best_up" "$up")
	best_down=$(max "$best_down" "$down")
	best_dd_write=$(max "$best_dd_write" "$dd_write")
	best_dd_read=$(max "$best_dd_read" "$dd_read")
done

printf '\n%s MiB, tus chunks of %s MiB, best of %d runs\n\n' "$size_mib" "$chunk_mib" "$runs"
printf '| direction | expresso-drive MB/s | dd MB/s | ratio |\n|---|---|---|---|\n'
awk -v u="$best_up" -v w="$best_dd_write" 'BEGIN { printf "| upload (dd write, conv=fsync) | %.1f | %.1f | %.2f |\n", u, w, u / w }'
awk -v d="$best_down" -v r="$best_dd_read" 'BEGIN { printf "| download (dd read) | %.1f | %.1f | %.2f |\n", d, r, d / r }'
