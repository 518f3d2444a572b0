#!/usr/bin/env bash
# IMAP speed and idle-connection memory of expresso-mail next to Dovecot
# on this machine. The same generated mailbox of MESSAGES messages is
# loaded over IMAP APPEND into:
#   1. a private expresso-mail on the running stack (its database and
#      storage), user alice, mailbox Bench-<MESSAGES>;
#   2. a private Dovecot (Debian dovecot-imapd) with Maildir under a
#      temporary directory, one imap process per connection (its default).
# Per server it times SELECT, UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE
# BODYSTRUCTURE) and UID SEARCH TEXT <word> (median of RUNS runs after a
# warm-up), then opens IDLE_CONNECTIONS connections that each LOGIN,
# SELECT INBOX and IDLE, and reads the memory of the server's processes
# from /proc (VmRSS and Pss, summed over the process tree). It prints a
# table with both servers and the ratio Dovecot / expresso (above 1:
# expresso is faster or lighter).
#
# Usage: tests/bench/imap/imap-bench.sh [messages] [idle connections] [runs]
#        (defaults 10000, 2000, 5); EXPRESSO_BENCH_IDLE_ONLY=1 skips the
#        mailbox and measures idle connections only;
#        EXPRESSO_BENCH_KEEP_MAILBOX=1 leaves the mailbox in expresso-mail.
# Needs: root (Dovecot switches to its users), the stack up
# (scripts/run-local.sh) with stack.env in the environment, and the tree
# built in build/ (EXPRESSO_BENCH_MAIL_BINARY picks another expresso-mail
# binary, for a before-and-after comparison). Installs dovecot-imapd when
# it is missing. Dovecot and expresso-mail listen on loopback ports of the
# stack's offset (offset + 1143 to offset + 1145) and are stopped at the
# end; the system's Dovecot is neither configured nor started. Not run by
# scripts/test.sh.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
messages=${1:-10000}
idle_connections=${2:-2000}
runs=${3:-5}
word=xilofone
mailbox="Bench-$messages"
offset=${EXPRESSO_PORT_OFFSET:?source the stack.env of a running stack}
expresso_imap_port=$((offset + 1143))
dovecot_port=$((offset + 1144))
expresso_http_port=$((offset + 1145))
binary=${EXPRESSO_BENCH_MAIL_BINARY:-$repo/build/services/mail/expresso-mail}
bench="/usr/bin/python3 $repo/tests/bench/imap/imap_bench.py"
: "${EXPRESSO_STATE_DIR:?source the stack.env of a running stack}"
: "${EXPRESSO_ALICE_EMAIL:?source the stack.env of a running stack}"
: "${EXPRESSO_ALICE_APP_PASSWORD:?source the stack.env of a running stack}"

[ "$(id -u)" -eq 0 ] || { echo "run as root: Dovecot needs it to switch users" >&2; exit 2; }
if [ ! -x /usr/lib/dovecot/imap ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd </dev/null >/dev/null ||
		{ echo "apt-get install of dovecot-imapd failed" >&2; exit 2; }
fi
# Two sockets per connection on this host (client and server), plus Dovecot's own.
ulimit -n $((idle_connections * 3 + 1024)) 2>/dev/null || { echo "cannot raise the open-file limit to $((idle_connections * 3 + 1024))" >&2; exit 2; }

work=$(mktemp -d /tmp/expresso-imap-bench.XXXXXX)
chmod 755 "$work"
expresso_pid=""
cleanup() {
	if [ -n "$expresso_pid" ]; then
		kill "$expresso_pid" 2>/dev/null || true
		wait "$expresso_pid" 2>/dev/null || true
	fi
	if [ -f "$work/dovecot/run/master.pid" ]; then
		kill "$(cat "$work/dovecot/run/master.pid")" 2>/dev/null || true
		sleep 2
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# ---- expresso-mail --------------------------------------------------------------------------
EXPRESSO_HTTP_ADDRESS=127.0.0.1 EXPRESSO_HTTP_PORT=$expresso_http_port EXPRESSO_SMTP_PORT=0 \
EXPRESSO_SUBMISSION_PORT=0 EXPRESSO_SUBMISSIONS_PORT=0 EXPRESSO_MANAGESIEVE_PORT=0 EXPRESSO_IMAPS_PORT=0 \
EXPRESSO_IMAP_PORT=$expresso_imap_port EXPRESSO_IMAP_LOOPBACK_PLAINTEXT=true \
EXPRESSO_IMAP_MAX_CONNECTIONS=$((idle_connections + 100)) \
EXPRESSO_IMAP_MAX_CONNECTIONS_PER_ADDRESS=$((idle_connections + 100)) \
EXPRESSO_STORAGE_DIR="$EXPRESSO_STATE_DIR/storage" EXPRESSO_OUTBOUND_WORKERS=0 EXPRESSO_LOG_LEVEL=warn \
MALLOC_MMAP_THRESHOLD_=131072 \
	"$binary" >"$work/expresso.log" 2>&1 &
expresso_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$expresso_http_port/ready" >/dev/null && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$expresso_http_port/ready" >/dev/null || { cat "$work/expresso.log" >&2; exit 1; }

# ---- Dovecot ------------------------------------------------------------------------------------
mkdir -p "$work/dovecot/run" "$work/mail"
chown nobody:nogroup "$work/mail"
limit=$((idle_connections + 200))
cat >"$work/dovecot/dovecot.conf" <<CONF
base_dir = $work/dovecot/run
log_path = $work/dovecot/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:$work/mail/%n
first_valid_uid = 1
default_process_limit = $limit
default_client_limit = $((limit * 4))
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/mail/%n
}
passdb {
  driver = static
  args = nopassword=y
}
protocol imap {
  mail_max_userip_connections = $limit
}
# Dovecot 2.3 sets process_limit = 1024 for imap itself, which default_process_limit does not raise.
service imap {
  process_limit = $limit
}
service imap-login {
  process_limit = $limit
  inet_listener imap {
    address = 127.0.0.1
    port = $dovecot_port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
dovecot -c "$work/dovecot/dovecot.conf"
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$dovecot_port") 2>/dev/null && break
	sleep 0.1
done

# ---- load, time, idle -------------------------------------------------------------------------
# Each LOGIN runs argon2id with tens of MiB of working memory. A fixed mmap threshold (glibc's
# MALLOC_MMAP_THRESHOLD_) returns that memory to the system after each login, so that the RSS below
# counts the connections and not the malloc arenas that kept the last argon2id buffers.
if [ "${EXPRESSO_BENCH_IDLE_ONLY:-0}" != 1 ]; then
echo "loading $messages messages (expresso-mail, then Dovecot)"
$bench load 127.0.0.1 "$expresso_imap_port" "$EXPRESSO_ALICE_EMAIL" "$EXPRESSO_ALICE_APP_PASSWORD" "$mailbox" "$messages"
$bench load 127.0.0.1 "$dovecot_port" bench bench "$mailbox" "$messages"

$bench time 127.0.0.1 "$expresso_imap_port" "$EXPRESSO_ALICE_EMAIL" "$EXPRESSO_ALICE_APP_PASSWORD" "$mailbox" "$runs" "$word" \
	>"$work/expresso.times"
$bench time 127.0.0.1 "$dovecot_port" bench bench "$mailbox" "$runs" "$word" >"$work/dovecot.times"
else
	: >"$work/expresso.times"
	: >"$work/dovecot.times"
fi
$bench idle 127.0.0.1 "$expresso_imap_port" "$EXPRESSO_ALICE_EMAIL" "$EXPRESSO_ALICE_APP_PASSWORD" \
	"$idle_connections" "$expresso_pid" | tee "$work/expresso.idle"
$bench idle 127.0.0.1 "$dovecot_port" bench bench "$idle_connections" "$work/dovecot/run/master.pid" >"$work/dovecot.idle"

# The mailbox goes again, so that the stack's own tests do not list 10,000 more messages, unless
# EXPRESSO_BENCH_KEEP_MAILBOX=1 keeps it for the next run (which then skips loading expresso-mail).
[ "${EXPRESSO_BENCH_IDLE_ONLY:-0}" = 1 ] || [ "${EXPRESSO_BENCH_KEEP_MAILBOX:-0}" = 1 ] || $bench delete 127.0.0.1 "$expresso_imap_port" "$EXPRESSO_ALICE_EMAIL" "$EXPRESSO_ALICE_APP_PASSWORD" "$mailbox"

# ---- the table ---------------------------------------------------------------------------------
awk -F'\t' -v n="$idle_connections" -v m="$messages" -v runs="$runs" '
	FNR == 1 { n_parts = split(FILENAME, parts, "/"); server = (parts[n_parts] ~ /^expresso/) ? "e" : "d" }
	$1 == "time" { if (!($2 in seen)) { seen[$2] = 1; order[++rows] = $2 } ms[server, $2] = $3; bytes[server, $2] = $4 }
	$1 == "idle" && $2 == "before" { rss0[server] = $3; pss0[server] = $4 }
	$1 == "idle" && $2 == "after" { rss1[server] = $3; pss1[server] = $4; threads[server] = $5; procs[server] = $6 }
	END {
		printf "IMAP, %d messages, median of %d runs               %14s %14s %10s\n", m, runs, "expresso-mail", "Dovecot", "ratio D/E"
		for (i = 1; i <= rows; i++) {
			r = order[i]
			printf "%-48s %11.1f ms %11.1f ms %10.2f\n", r, ms["e", r], ms["d", r], ms["d", r] / ms["e", r]
		}
		er = (rss1["e"] - rss0["e"]) / n; dr = (rss1["d"] - rss0["d"]) / n
		ep = (pss1["e"] - pss0["e"]) / n; dp = (pss1["d"] - pss0["d"]) / n
		printf "%-48s %11.1f KiB %10.1f KiB %10.2f\n", "RSS per IDLE connection (" n " open)", er, dr, dr / er
		printf "%-48s %11.1f KiB %10.1f KiB %10.2f\n", "PSS per IDLE connection (" n " open)", ep, dp, dp / ep
		printf "%-48s %14d %14d\n", "threads with " n " in IDLE", threads["e"], threads["d"]
		printf "%-48s %14d %14d\n", "processes with " n " in IDLE", procs["e"], procs["d"]
		printf "%-48s %11.1f MiB %10.1f MiB\n", "RSS in total with " n " in IDLE", rss1["e"] / 1024, rss1["d"] / 1024
		printf "%-48s %11d B %12d B\n", "FETCH ENVELOPE BODYSTRUCTURE response size", bytes["e", order[3]], bytes["d", order[3]]
	}' "$work/expresso.times" "$work/expresso.idle" "$work/dovecot.times" "$work/dovecot.idle"
