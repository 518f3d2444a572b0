#!/usr/bin/env bash
# Times expresso-calendar and expresso-contacts against Radicale (Debian
# package radicale) on the same machine and prints one table: a one-month
# time-range calendar-query, an initial and a one-change sync-collection,
# a 100-item calendar-multiget and an addressbook-query by name, each the
# median of BENCH_RUNS runs (default 5), with the ratio Radicale/expresso.
#
# Needs a running local stack: start it with scripts/run-local.sh --detach
# and pass its state directory in EXPRESSO_STATE_DIR (default .local).
# Sizes: BENCH_EVENTS and BENCH_CONTACTS (default 10000 each). Loading takes
# a few minutes; the benchmark deletes alice's "bench" calendar and address
# book first and leaves them for inspection.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
state=${EXPRESSO_STATE_DIR:-$repo/.local}
[ -f "$state/stack.env" ] || { echo "dav-bench: no $state/stack.env; start the stack with scripts/run-local.sh --detach" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$state/stack.env"
set +a
command -v radicale >/dev/null || { echo "dav-bench: install the Debian package radicale" >&2; exit 1; }

work=$(mktemp -d)
radicale_pid=""
cleanup() {
	[ -n "$radicale_pid" ] && kill "$radicale_pid" 2>/dev/null && wait "$radicale_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config" <<CONFIG
[server]
hosts = 127.0.0.1:$port
[auth]
type = none
[rights]
type = owner_only
[storage]
filesystem_folder = $work/collections
[logging]
level = warning
CONFIG
mkdir -p "$work/collections"
radicale --config "$work/config" >"$work/radicale.log" 2>&1 &
radicale_pid=$!
for _ in $(seq 1 50); do
	curl -fs -o /dev/null "http://127.0.0.1:$port/.web/" && break
	sleep 0.2
done

# Start from empty expresso collections so that repeated runs measure the same data.
auth="$EXPRESSO_ALICE_EMAIL:$EXPRESSO_ALICE_APP_PASSWORD"
curl -fs -u "$auth" -X DELETE "$EXPRESSO_CALDAV_URL/api/v1/calendars/bench" >/dev/null || true
principal=$(curl -fs -u "$auth" -X PROPFIND -H 'Depth: 0' "$EXPRESSO_CARDDAV_URL/" \
	-d '<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>' |
	sed -n 's|.*<d:current-user-principal><d:href>\([^<]*\)<.*|\1|p')
curl -fs -u "$auth" -X DELETE "$EXPRESSO_CARDDAV_URL${principal/principals/addressbooks}bench/" >/dev/null || true

BENCH_RADICALE_URL="http://127.0.0.1:$port" BENCH_RADICALE_ROOT="$work/collections" \
	/usr/bin/python3 "$repo/tests/bench/dav/dav_bench.py"
