#!/usr/bin/env bash
# Runs the expresso-notifications load benchmark (sse_load.mjs) against the
# local stack: two extra replicas on ports 8026 and 8027 plus the stack's
# port offset, 5,000 SSE clients and 100 events per second for a minute by
# default. It prints the delivery latency (p50, p99) and the resident
# memory per connection of each replica, and exits 1 when the target
# (p99 under 100 ms, under 20 KB per connection) is missed.
#
# Usage: tests/bench/notifications/run.sh
#   Start the stack first (scripts/run-local.sh --detach). The state
#   directory is $EXPRESSO_STATE_DIR, default <repo>/.local/dev.
#   BENCH_CLIENTS, BENCH_RATE, BENCH_DURATION, BENCH_USERS and
#   BENCH_CONNECT_CONCURRENCY change the load (see sse_load.mjs).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
state=${EXPRESSO_STATE_DIR:-$repo/.local/dev}
if [[ ! -f $state/stack.env ]]; then
	echo "run.sh: $state/stack.env is missing; start the stack with scripts/run-local.sh --detach" >&2
	exit 2
fi
if [[ ! -d $repo/tests/e2e/node_modules/nats ]]; then
	echo "run.sh: the nats package is missing; run npm ci in tests/e2e" >&2
	exit 2
fi
set -a
# shellcheck disable=SC1091
. "$state/stack.env"
set +a

# Every SSE client uses a socket in this process and one in a replica,
# and the replicas inherit this limit.
clients=${BENCH_CLIENTS:-5000}
needed=$((clients + 1024))
if (($(ulimit -n) < needed)); then
	ulimit -n "$needed" 2>/dev/null || {
		echo "run.sh: cannot raise the open file limit to $needed (hard limit $(ulimit -Hn))" >&2
		exit 2
	}
fi

exec node "$repo/tests/bench/notifications/sse_load.mjs"
