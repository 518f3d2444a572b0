#!/usr/bin/env bash
# Benchmark of expresso-drive against dd on the same disk: uploads
# EXPRESSO_BENCH_SIZE_MIB (default 1024) MiB through tus in 16 MiB PATCHes
# to the stack's drive (local-disk backend) and downloads it back. dd and
# nginx read the same bytes from the same disk, and dd writes the same
# size into the drive's storage directory. Prints MB/s (10^6 bytes/s) for
# each, the median of the runs, and the median of the runs' ratios
# drive/peer. Every timed write starts after a sync, and the readers and
# the dd writes change places from run to run, because the disk of a
# shared machine changes speed within seconds.
#
# How the two sides are made comparable:
# - Upload against dd conv=fsync (one fsync at the end) is the target.
#   Each tus PATCH is acknowledged only after the daemon has fsynced its
#   chunk, so the table also shows dd oflag=dsync with bs=16M, which
#   makes each 16 MiB write durable before the next one, as tus does.
# - Downloads are measured cold, reading the disk, and warm, from the page
#   cache. Cold is the target: each reader reads its own file once, just
#   written and fsynced. Its pages are dropped first with dd iflag=nocache
#   count=0, that is posix_fadvise(POSIX_FADV_DONTNEED), which needs no
#   privilege and drops the clean pages of one file only.
#   The drive reads the file it stored, dd and nginx copies of the same
#   bytes. Reading one file in turn favoured the later readers: the host
#   of this virtual machine caches its disk, so the second and third reads
#   of a file came from that cache at about 3 GB/s.
# - Warm, all three read the stored file. dd reading into /dev/null makes
#   one copy and uses no network. To show what HTTP over loopback allows,
#   nginx (sendfile on) serves the same files to the same curl on port
#   offset + 1080. The warm rows and the nginx rows are for reference.
# - curl is the client both ways, because Node's fetch and http clients
#   measured slower than the daemon (about 100 to 550 MB/s against curl's
#   1.8 to 2 GB/s for one download on a loaded 2-core machine). All the
#   PATCHes of one upload go through one curl process (--next), which
#   keeps one connection as tus clients do. A curl process and a new
#   connection per chunk cost 20 to 95 ms per chunk, with the disk idle.
#
# Needs a running stack: set -a; . .local/dev/stack.env; set +a
# The stack's expresso-drive is measured (scripts/run-local.sh builds it
# RelWithDebInfo), unless EXPRESSO_BENCH_DRIVE_BINARY names another
# expresso-drive binary: the bench then starts that one on port
# offset + 1081 with the stack's settings, and stops it at the end.
# Usage: tests/bench/drive/drive-bench.sh [runs]   (default 5)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-5}
size_mib=${EXPRESSO_BENCH_SIZE_MIB:-1024}
chunk_mib=16
: "${EXPRESSO_DRIVE_URL:?source .local/dev/stack.env first}"
: "${EXPRESSO_STATE_DIR:?source .local/dev/stack.env first}"
: "${EXPRESSO_PORT_OFFSET:?source .local/dev/stack.env first}"
command -v nginx >/dev/null || { echo "nginx is missing; install it (scripts/lib/packages.sh lists it)" >&2; exit 2; }
storage=$EXPRESSO_STATE_DIR/storage
work=$(mktemp -d "$storage/.bench-XXXXXX")
nginx_port=$((EXPRESSO_PORT_OFFSET + 1080))
drive_pid=""
cleanup() {
	if [ -f "$work/nginx/nginx.pid" ]; then
		kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
	fi
	if [ -n "$drive_pid" ]; then
		kill "$drive_pid" 2>/dev/null || true
		wait "$drive_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

drive_url=$EXPRESSO_DRIVE_URL
if [ -n "${EXPRESSO_BENCH_DRIVE_BINARY:-}" ]; then
	[ -x "$EXPRESSO_BENCH_DRIVE_BINARY" ] || { echo "EXPRESSO_BENCH_DRIVE_BINARY=$EXPRESSO_BENCH_DRIVE_BINARY is not an executable" >&2; exit 2; }
	drive_port=$((EXPRESSO_PORT_OFFSET + 1081))
	drive_url=http://127.0.0.1:$drive_port
	EXPRESSO_HTTP_ADDRESS=127.0.0.1 EXPRESSO_HTTP_PORT=$drive_port EXPRESSO_STORAGE_DIR=$storage \
		"$EXPRESSO_BENCH_DRIVE_BINARY" </dev/null >"$work/drive.log" 2>&1 &
	drive_pid=$!
	for _ in $(seq 1 150); do
		curl -fsS -o /dev/null "$drive_url/ready" 2>/dev/null && break
		sleep 0.2
	done
	curl -fsS -o /dev/null "$drive_url/ready" || { echo "$EXPRESSO_BENCH_DRIVE_BINARY did not become ready; its log:" >&2; cat "$work/drive.log" >&2; exit 1; }
	echo "measuring $EXPRESSO_BENCH_DRIVE_BINARY on $drive_url" >&2
else
	echo "measuring the stack's expresso-drive on $drive_url" >&2
fi

# nginx serves the storage directory, as the user running the bench, who can read the stored files.
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOT
user $(id -un) $(id -gn);
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 16; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server { listen 127.0.0.1:$nginx_port; root $storage; }
}
EOT
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" || { echo "nginx did not start; see $work/nginx/error.log" >&2; exit 1; }

token=$("$repo/scripts/dev-token.sh" "${EXPRESSO_ALICE_EMAIL:-alice@demo.expresso.test}")
size=$((size_mib * 1024 * 1024))
head -c "$size" /dev/urandom >"$work/source"
mkdir "$work/chunks"
split -b "${chunk_mib}M" -d -a 4 "$work/source" "$work/chunks/"

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f\n", b / (e - s) / 1e6 }'; }

# Drops the page-cache pages of the file PATH (clean pages only).
drop_cache() { dd if="$1" iflag=nocache count=0 status=none; }

# Uploads the chunks of $work/chunks as one tus upload over one connection.
upload() {
	local name=$1 headers location offset=0 args=() statuses
	headers=$(curl -sS -o /dev/null -D - -X POST "$drive_url/api/v1/drive/uploads" \
		-H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" -H "Upload-Length: $size" \
		-H "Upload-Metadata: filename $(printf '%s' "$name" | base64 -w0)")
	location=$(printf '%s' "$headers" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
	[ -n "$location" ] || { echo "POST did not create an upload: $headers" >&2; exit 1; }
	for part in "$work"/chunks/*; do
		[ "${#args[@]}" -eq 0 ] || args+=(--next)
		args+=(-sS -o /dev/null -w '%{http_code}\n' -X PATCH -T "$part" "$drive_url$location"
			-H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" -H 'Expect:'
			-H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $offset")
		offset=$((offset + $(stat -c %s "$part")))
	done
	statuses=$(curl "${args[@]}")
	if printf '%s\n' "$statuses" | grep -qv '^204$'; then
		echo "a PATCH returned another status than 204: $(printf '%s' "$statuses" | sort | uniq -c | tr '\n' ' ')" >&2
		exit 1
	fi
}

# Prints the rate in MB/s of a GET of URL with curl, checking the length received.
fetch_rate() {
	local start received end
	start=$(now)
	received=$(curl -sS -o /dev/null -w '%{size_download}' "$@")
	end=$(now)
	[ "$received" = "$size" ] || { echo "downloaded $received bytes of $size from ${*: -1}" >&2; exit 1; }
	rate "$size" "$start" "$end"
}

# Prints the download rate of file ID in MB/s.
download() { fetch_rate -H "Authorization: Bearer $token" "$drive_url/api/v1/drive/files/$1/content"; }

# Prints the rate of nginx serving the stored file PATH in MB/s.
nginx_download() { fetch_rate "http://127.0.0.1:$nginx_port/${1#"$storage"/}"; }

# Prints the rate of a dd run from its last line ("... bytes ... copied, S s, R MB/s").
dd_rate() {
	dd "$@" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "bytes") b = $1; split($0, p, ", "); s = p[3]; sub(/ s$/, "", s); printf "%.1f\n", b / s / 1e6 }'
}

# Prints the readers drive, nginx and dd, one a line, starting with the one whose turn run $1 is.
readers_in_turn() { printf 'drive\nnginx\ndd\ndrive\nnginx\n' | tail -n +$((($1 - 1) % 3 + 1)) | head -n 3; }

# Prints the rate of reader $1 (drive, nginx or dd) reading the file $2; the drive reads file $id.
read_file() {
	case $1 in
	drive) download "$id" ;;
	nginx) nginx_download "$2" ;;
	dd) dd_rate if="$2" of=/dev/null bs=16M ;;
	esac
}

# Prints the file reader $1 reads cold: the stored file for the drive, a copy for the others.
cold_file() { if [ "$1" = drive ]; then printf '%s\n' "$stored"; else printf '%s\n' "$work/cold-$1"; fi; }

# Prints $1 / $2 with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'; }

# Sets dd_fsync and dd_dsync: the rates of dd writing the source into the storage directory.
dd_writes() {
	sync
	dd_fsync=$(dd_rate if="$work/source" of="$work/dd-copy" bs=16M conv=fsync)
	rm -f "$work/dd-copy"
	dd_dsync=$(dd_rate if="$work/source" of="$work/dd-copy" bs=16M oflag=dsync)
	rm -f "$work/dd-copy"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

ups=() warm_downs=() cold_downs=() nginx_warms=() nginx_colds=()
dd_fsyncs=() dd_dsyncs=() dd_warm_reads=() dd_cold_reads=()
# The ratio of each row is the median of the runs' own ratios, so that a drift of the disk's speed
# between runs weighs on both sides of a ratio alike.
fsync_ratios=() dsync_ratios=() warm_ratios=() cold_ratios=() nginx_warm_ratios=() nginx_cold_ratios=()
for run in $(seq 1 "$runs"); do
	# dd writes before the upload in even runs and after the reads in odd ones.
	[ $((run % 2)) -ne 0 ] || dd_writes
	name="bench-$(date +%s%N).bin"
	touch "$work/marker"
	# Dirty pages left by the source, the last run or another program would be written during the upload.
	sync
	start=$(now)
	upload "$name"
	up=$(rate "$size" "$start" "$(now)")
	id=$(curl -sS -H "Authorization: Bearer $token" "$drive_url/api/v1/drive/folders/root?limit=1000" |
		jq -r --arg name "$name" '.entries[] | select(.name == $name) | .id')
	[ -n "$id" ] || { echo "$name is not listed" >&2; exit 1; }
	stored=$(find "$storage" -path "$work" -prune -o -type f -size "${size}c" -newer "$work/marker" -print | head -1)
	[ -n "$stored" ] || { echo "the stored file of $name was not found under $storage" >&2; exit 1; }

	# Copies for the cold reads of nginx and dd, written and fsynced before any read.
	for reader in nginx dd; do
		dd if="$work/source" of="$work/cold-$reader" bs=16M conv=fsync status=none
	done
	# Warm, the three readers take the stored file. Cold, each reads its own file after its drop.
	# The order turns by one reader each run, so that none always reads first after the upload.
	for reader in $(readers_in_turn "$run"); do
		rate_read=$(read_file "$reader" "$stored")
		printf -v "${reader}_warm" '%s' "$rate_read"
	done
	for reader in $(readers_in_turn "$run"); do
		drop_cache "$(cold_file "$reader")"
		rate_read=$(read_file "$reader" "$(cold_file "$reader")")
		printf -v "${reader}_cold" '%s' "$rate_read"
	done
	rm -f "$work/cold-nginx" "$work/cold-dd"
	curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$drive_url/api/v1/drive/files/$id"
	curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$drive_url/api/v1/drive/trash/$id"

	[ $((run % 2)) -eq 0 ] || dd_writes
	printf 'run %d: drive upload %s, download warm %s, cold %s; nginx warm %s, cold %s; dd write fsync %s, dsync %s, read warm %s, cold %s MB/s; %s\n' \
		"$run" "$up" "$drive_warm" "$drive_cold" "$nginx_warm" "$nginx_cold" "$dd_fsync" "$dd_dsync" "$dd_warm" \
		"$dd_cold" "$(uptime | sed 's/.*load/load/')" >&2
	ups+=("$up") warm_downs+=("$drive_warm") cold_downs+=("$drive_cold") nginx_warms+=("$nginx_warm") nginx_colds+=("$nginx_cold")
	dd_fsyncs+=("$dd_fsync") dd_dsyncs+=("$dd_dsync") dd_warm_reads+=("$dd_warm") dd_cold_reads+=("$dd_cold")
	fsync_ratios+=("$(ratio "$up" "$dd_fsync")") dsync_ratios+=("$(ratio "$up" "$dd_dsync")")
	warm_ratios+=("$(ratio "$drive_warm" "$dd_warm")") cold_ratios+=("$(ratio "$drive_cold" "$dd_cold")")
	nginx_warm_ratios+=("$(ratio "$drive_warm" "$nginx_warm")") nginx_cold_ratios+=("$(ratio "$drive_cold" "$nginx_cold")")
done

row() { awk -v label="$1" -v d="$2" -v p="$3" -v r="$4" 'BEGIN { printf "| %s | %.1f | %.1f | %.2f |\n", label, d, p, r }'; }
up=$(median "${ups[@]}")
warm_down=$(median "${warm_downs[@]}")
cold_down=$(median "${cold_downs[@]}")
printf '\n%s MiB, tus chunks of %s MiB, median of %d runs; at the end: %s\n\n' "$size_mib" "$chunk_mib" "$runs" "$(uptime)"
printf '| direction (peer) | expresso-drive MB/s | peer MB/s | median of the runs'"'"' ratios |\n|---|---|---|---|\n'
row 'upload (dd bs=16M conv=fsync)' "$up" "$(median "${dd_fsyncs[@]}")" "$(median "${fsync_ratios[@]}")"
row 'upload (dd bs=16M oflag=dsync)' "$up" "$(median "${dd_dsyncs[@]}")" "$(median "${dsync_ratios[@]}")"
row 'download, first read from the disk (dd read)' "$cold_down" "$(median "${dd_cold_reads[@]}")" "$(median "${cold_ratios[@]}")"
row 'download, page cache warm (dd read, reference)' "$warm_down" "$(median "${dd_warm_reads[@]}")" "$(median "${warm_ratios[@]}")"
row 'download, first read from the disk (nginx sendfile, reference)' "$cold_down" "$(median "${nginx_colds[@]}")" "$(median "${nginx_cold_ratios[@]}")"
row 'download, page cache warm (nginx sendfile, reference)' "$warm_down" "$(median "${nginx_warms[@]}")" "$(median "${nginx_warm_ratios[@]}")"
