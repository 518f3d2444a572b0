#!/usr/bin/env bash
# Runs the Expresso stack on this machine: installs what is missing,
# builds, starts PostgreSQL, Redis, NATS JetStream, the development OIDC
# provider and every daemon on loopback, with state under .local/.
#
#   scripts/run-local.sh            start and stay in the foreground (Ctrl-C stops)
#   scripts/run-local.sh --detach   start, wait until every /ready returns 200, then return
#   scripts/run-local.sh --stop     stop a detached stack
#
# Endpoints, demo accounts and passwords are written to .local/stack.env.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
. "$EXPRESSO_ROOT/scripts/lib/packages.sh"
. "$EXPRESSO_ROOT/scripts/lib/stack.sh"

mode=foreground
case "${1:-}" in
	"") ;;
	--detach) mode=detach ;;
	--stop) mode=stop ;;
	-h|--help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0 ;;
	*) die "unknown option $1; use --detach, --stop or --help" ;;
esac

if [ "$mode" = stop ]; then
	[ -d "$STATE/run" ] || { say "nothing to stop in $STATE"; exit 0; }
	say "stopping the stack in $STATE"
	stop_stack
	exit 0
fi

mkdir -p "$STATE"
exec 9>"$STATE/run-local.lock"
flock -n 9 || die "another run-local.sh is starting this stack ($STATE); wait for it"

ensure_debian_packages
ensure_npm_packages "$EXPRESSO_ROOT/tools/dev-oidc"
build_expresso

load_or_create_secrets
write_accounts
ensure_tls
start_postgres
bootstrap_database
migrate_and_seed
start_redis
start_nats
start_oidc
start_daemons
wait_daemons_ready
write_stack_env
print_endpoints

if [ "$mode" = detach ]; then
	exit 0
fi

trap 'say "stopping"; stop_stack; exit 0' INT TERM
say "running in the foreground; press Ctrl-C to stop"
while true; do
	sleep 3600 &
	wait $! || true
done
