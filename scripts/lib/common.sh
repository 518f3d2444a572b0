# Shared settings and helpers for scripts/run-local.sh and scripts/test.sh.
# Sourced, not run. Every port is a default plus EXPRESSO_PORT_OFFSET, so
# the test suite's stack (offset 10000) runs beside a developer's stack.

EXPRESSO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EXPRESSO_STATE_DIR="${EXPRESSO_STATE_DIR:-$EXPRESSO_ROOT/.local}"
EXPRESSO_PORT_OFFSET="${EXPRESSO_PORT_OFFSET:-0}"
EXPRESSO_BUILD_DIR="${EXPRESSO_BUILD_DIR:-$EXPRESSO_ROOT/build}"

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

port() { echo $(( $1 + EXPRESSO_PORT_OFFSET )); }

PG_PORT=$(port 5432)
REDIS_PORT=$(port 6379)
NATS_PORT=$(port 4222)
OIDC_PORT=$(port 8080)

# Ports below 1024 need root; otherwise the mail daemon uses high ports.
if [ "$(id -u)" -eq 0 ]; then
	SMTP_PORT=$(port 25); SUBMISSION_PORT=$(port 587); SUBMISSIONS_PORT=$(port 465)
	IMAP_PORT=$(port 143); IMAPS_PORT=$(port 993)
else
	SMTP_PORT=$(port 2525); SUBMISSION_PORT=$(port 1587); SUBMISSIONS_PORT=$(port 1465)
	IMAP_PORT=$(port 1143); IMAPS_PORT=$(port 1993)
fi
# ManageSieve (RFC 5804) is above 1024 in both cases.
MANAGESIEVE_PORT=$(port 4190)

# The HTTP daemons: short name, binary, default port, stack.env variable,
# dependencies (comma-separated: database, redis, nats). A daemon is
# started only once its binary has been built.
EXPRESSO_DAEMONS=(
	"auth expresso-auth 8100 AUTH database"
	"mail expresso-mail 8001 MAIL_API database,nats"
	"calendar expresso-calendar 8002 CALDAV database,nats"
	"contacts expresso-contacts 8003 CARDDAV database,nats"
	"drive expresso-drive 8004 DRIVE database,nats"
	"notifications expresso-notifications 8006 NOTIFICATIONS database,redis,nats"
	"imip expresso-imip-dispatch 8012 IMIP_DISPATCH database,nats"
)

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $2 seconds for URL $1 to return 200.
wait_http_ok() {
	local url=$1 seconds=${2:-30} i
	for ((i = 0; i < seconds * 5; i++)); do
		if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# Generates a password of letters and digits.
random_secret() { openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c "${1:-24}"; }
