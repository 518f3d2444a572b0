#!/usr/bin/env bash
# Delivery throughput of expresso-mail next to Postfix + Dovecot on this
# machine. Postfix's smtp-source sends MESSAGES messages of 10 KB over 20
# parallel sessions (several messages per connection) to:
#   1. a private expresso-mail on the running stack: the client's 250
#      comes after the fsync of the object and the commit of the row.
#      At the end the script deletes these messages from Alice's INBOX
#      and their objects, so that the tests, which expect a small INBOX,
#      still pass;
#   2. a private Postfix that delivers over LMTP to a private Dovecot
#      writing Maildir with mail_fsync = always; Postfix fsyncs its queue
#      files. The clock stops when the last message is in the Maildir.
# Each server takes RUNS rounds (default 3), and the rounds alternate
# between the two servers. The script prints every round's messages per
# second, the median of each server and the ratio of the medians. For
# expresso-mail it also prints the CPU time that the daemon and the
# stack's PostgreSQL used per message, and from the daemon's /metrics the
# group commit transactions and the committer requests per message.
#
# Usage: tests/bench/smtp/smtp-bench.sh [messages] [runs]   (default 2000 3)
# EXPRESSO_BENCH_MAIL_BINARY selects the expresso-mail binary to measure
# (default build/services/mail/expresso-mail); give it a RelWithDebInfo
# or Release build for figures, because the default build is Debug.
# Needs: root (Postfix and Dovecot drop privileges to their users), the
# stack up (scripts/run-local.sh) with stack.env in the environment and
# the tree built in build/. The script installs the Debian packages
# postfix, dovecot-core and dovecot-lmtpd when they are missing. Postfix
# and Dovecot run from their own configuration under a temporary
# directory, on loopback ports of the stack's offset (offset + 1025 to
# offset + 1028), and are stopped at the end; the system's instances are
# neither configured nor started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
messages=${1:-2000}
runs=${2:-3}
sessions=20
mail_binary=${EXPRESSO_BENCH_MAIL_BINARY:-$repo/build/services/mail/expresso-mail}
[ -x "$mail_binary" ] || { echo "no expresso-mail binary at $mail_binary; build the tree or set EXPRESSO_BENCH_MAIL_BINARY" >&2; exit 2; }
size=10240
offset=${EXPRESSO_PORT_OFFSET:?source the stack.env of a running stack}
expresso_smtp_port=$((offset + 1025))
expresso_http_port=$((offset + 1028))
postfix_port=$((offset + 1026))
dovecot_port=$((offset + 1027))
: "${EXPRESSO_STATE_DIR:?source the stack.env of a running stack}"
: "${EXPRESSO_ALICE_EMAIL:?source the stack.env of a running stack}"
: "${EXPRESSO_DATABASE_OWNER_URL:?source the stack.env of a running stack}"

[ "$(id -u)" -eq 0 ] || { echo "run as root: Postfix and Dovecot need it to switch users" >&2; exit 2; }
if ! command -v smtp-source >/dev/null || ! command -v dovecot >/dev/null || [ ! -e /usr/lib/dovecot/lmtp ]; then
	# "No configuration" keeps Debian from setting up the system's own Postfix instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix dovecot-core dovecot-lmtpd \
		</dev/null >/dev/null || { echo "apt-get install of postfix dovecot-core dovecot-lmtpd failed" >&2; exit 2; }
fi

work=$(mktemp -d /tmp/expresso-smtp-bench.XXXXXX)
chmod 755 "$work"
expresso_pid=""
bench_messages_sent=0
cleanup() {
	if [ -n "$expresso_pid" ]; then
		kill "$expresso_pid" 2>/dev/null || true
		wait "$expresso_pid" 2>/dev/null || true
	fi
	if [ -f "$work/postfix/etc/main.cf" ]; then
		postfix -c "$work/postfix/etc" stop >/dev/null 2>&1 || true
	fi
	# An early exit still leaves Alice's INBOX as the tests expect it.
	if [ "$bench_messages_sent" -eq 1 ]; then
		remove_bench_messages || true
	fi
	if [ -f "$work/dovecot/run/master.pid" ]; then
		kill "$(cat "$work/dovecot/run/master.pid")" 2>/dev/null || true
		sleep 1
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# Deletes the messages smtp-source delivered to Alice, then their objects
# from the local-disk storage. Listing thousands of objects for the orphan
# sweep instead would keep the sweep of the next tests busy for minutes.
remove_bench_messages() {
	local keys
	keys=$(psql "$EXPRESSO_DATABASE_OWNER_URL" -qAt -v ON_ERROR_STOP=1 -v login="$EXPRESSO_ALICE_EMAIL" <<'SQL'
BEGIN;
SELECT FROM (SELECT set_config('app.tenant_id', tenant_id::text, true) FROM ex_tenant_for_login(:'login')) AS bound;
DELETE FROM messages AS m USING mailboxes AS b, ex_tenant_for_login(:'login') AS u
WHERE m.mailbox_id = b.id AND b.user_id = u.user_id AND m."from" LIKE '%bench@example.org%'
RETURNING m.tenant_id || '/' || m.storage_key;
COMMIT;
SQL
) || { echo "deleting the benchmark's messages failed" >&2; return 1; }
	keys=$(printf '%s\n' "$keys" | grep -E '^[0-9a-f-]{36}/mail/[0-9a-f-]{36}/[0-9a-f-]{36}$' || true)
	printf '%s\n' "$keys" | sed "s|^|$EXPRESSO_STATE_DIR/storage/|" | xargs -r rm -f
	# The delete trigger listed each key in mail_object_garbage for the sweep; the objects are gone now.
	# The keys go through COPY on standard input: as one argument they would exceed the 128 KiB limit.
	{
		printf '%s\n' 'BEGIN;' \
			"SELECT FROM (SELECT set_config('app.tenant_id', tenant_id::text, true) FROM ex_tenant_for_login(:'login')) AS bound;" \
			'CREATE TEMPORARY TABLE bench_keys (storage_key text) ON COMMIT DROP;' 'COPY bench_keys FROM STDIN;'
		printf '%s\n' "$keys" | cut -d/ -f2-
		printf '%s\n' '\.' \
			"DELETE FROM mail_object_garbage AS g USING ex_tenant_for_login(:'login') AS u, bench_keys AS k" \
			'WHERE g.tenant_id = u.tenant_id AND g.storage_key = k.storage_key;' 'COMMIT;'
	} | psql "$EXPRESSO_DATABASE_OWNER_URL" -qAt -v ON_ERROR_STOP=1 -v login="$EXPRESSO_ALICE_EMAIL" >/dev/null ||
		{ echo "deleting the garbage entries of the benchmark's objects failed" >&2; return 1; }
}

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f", n / (e - s) }'; }
# The median of the numbers given after the first argument, printed with the awk format in the first.
median() {
	local format=$1
	shift
	printf '%s\n' "$@" | sort -g |
		awk -v f="$format" '{ v[NR] = $1 } END { printf f, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- expresso-mail ----------------------------------------------------------------
EXPRESSO_HTTP_ADDRESS=127.0.0.1 EXPRESSO_HTTP_PORT=$expresso_http_port EXPRESSO_SMTP_PORT=$expresso_smtp_port \
EXPRESSO_SUBMISSION_PORT=0 EXPRESSO_SUBMISSIONS_PORT=0 EXPRESSO_IMAP_PORT=0 EXPRESSO_IMAPS_PORT=0 \
EXPRESSO_MANAGESIEVE_PORT=0 EXPRESSO_STORAGE_DIR="$EXPRESSO_STATE_DIR/storage" \
EXPRESSO_SMTP_GREETING_DELAY=0 EXPRESSO_SMTP_MAX_CONNECTIONS_PER_ADDRESS=100 \
EXPRESSO_SMTP_MAX_COMMANDS_PER_MINUTE=0 EXPRESSO_OUTBOUND_WORKERS=0 EXPRESSO_LOG_LEVEL=warn \
	"$mail_binary" >"$work/expresso.log" 2>&1 &
expresso_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$expresso_http_port/ready" >/dev/null && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$expresso_http_port/ready" >/dev/null || { cat "$work/expresso.log" >&2; exit 1; }

# ---- Dovecot (LMTP into Maildir) ----------------------------------------------------
mkdir -p "$work/dovecot/run" "$work/mail"
chown nobody:nogroup "$work/mail"
cat >"$work/dovecot/dovecot.conf" <<CONF
base_dir = $work/dovecot/run
log_path = $work/dovecot/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:$work/mail/%n
mail_fsync = always
first_valid_uid = 1
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/mail/%n
}
passdb {
  driver = static
  args = nopassword=y
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $dovecot_port
  }
}
CONF
dovecot -c "$work/dovecot/dovecot.conf"

# ---- Postfix -------------------------------------------------------------------------
mkdir -p "$work/postfix/etc" "$work/postfix/queue" "$work/postfix/data"
chown postfix "$work/postfix/data"
cat >"$work/postfix/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $work/postfix/queue
data_directory = $work/postfix/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.expresso.test
mydestination = bench.expresso.test
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
local_recipient_maps =
alias_maps =
alias_database =
local_transport = lmtp:inet:127.0.0.1:$dovecot_port
maillog_file = $work/postfix/postfix.log
default_process_limit = 100
smtpd_client_connection_count_limit = 0
CONF
sed -e "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$postfix_port inet n - n - - smtpd/" \
	/usr/share/postfix/master.cf.dist >"$work/postfix/etc/master.cf"
grep -q "^127.0.0.1:$postfix_port" "$work/postfix/etc/master.cf" || { echo "could not set the smtpd port in master.cf" >&2; exit 1; }
# No chroot: the services would need copies of /etc files inside the queue directory.
postconf -c "$work/postfix/etc" -F '*/*/chroot = n'
# "postfix start" left no master process in a container without syslog, so the master runs in the
# foreground (in the background of this script) and logs to stdout.
postconf -c "$work/postfix/etc" -e "maillog_file = /dev/stdout"
postfix -c "$work/postfix/etc" start-fg >"$work/postfix/postfix.log" 2>&1 &
listening=0
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$postfix_port") 2>/dev/null; then
		listening=1
		break
	fi
	sleep 0.1
done
[ "$listening" -eq 1 ] || { echo "Postfix is not listening on 127.0.0.1:$postfix_port" >&2; exit 1; }

# CPU ticks used so far by the processes given: the private expresso-mail, or every process of the
# stack's PostgreSQL (backends, WAL writer, checkpointer). The PostgreSQL figure also contains the
# work of the stack's other daemons, such as expresso-notifications, on the mail.delivered events.
postmaster=$(head -1 "$EXPRESSO_STATE_DIR/pg/postmaster.pid")
cpu_ticks() {
	local total=0 ticks process
	for process in "$@"; do
		ticks=$(awk '{ print $14 + $15 }' "/proc/$process/stat" 2>/dev/null || echo 0)
		total=$((total + ticks))
	done
	echo "$total"
}
# Milliseconds of CPU per message from a difference of ticks.
cpu_ms() { awk -v t="$1" -v hz="$ticks_per_second" -v n="$messages" 'BEGIN { printf "%.2f", 1000 * t / hz / n }'; }
ticks_per_second=$(getconf CLK_TCK)

# A counter of the private expresso-mail's /metrics, such as delivery_batches_total.
# awk reads the whole page: exiting at the match could end curl with SIGPIPE, which pipefail and set -e turn into an exit.
metric() {
	curl -fs "http://127.0.0.1:$expresso_http_port/metrics" |
		awk -v name="expresso_$1{" '!found && index($1, name) == 1 { print $2; found = 1 } END { if (!found) print 0 }'
}

# ---- rounds ---------------------------------------------------------------------------
# The rounds alternate between the servers, so that a change in the load of
# the machine during the run reaches both.
maildir="$work/mail/bench/new"
expresso_rates=()
expresso_cpu=()
expresso_daemon_cpu=()
postgres_cpu=()
expresso_commits=()
expresso_requests=()
postfix_rates=()
for round in $(seq "$runs"); do
	bench_messages_sent=1
	batches_before=$(metric delivery_batches_total)
	requests_before=$(metric delivery_batch_requests_total)
	daemon_before=$(cpu_ticks "$expresso_pid")
	postgres_before=$(cpu_ticks $(pgrep -P "$postmaster"))
	start=$(now)
	smtp-source -d -s "$sessions" -m "$messages" -l "$size" -f bench@example.org -t "$EXPRESSO_ALICE_EMAIL" \
		"127.0.0.1:$expresso_smtp_port"
	end=$(now)
	daemon_ticks=$(($(cpu_ticks "$expresso_pid") - daemon_before))
	postgres_ticks=$(($(cpu_ticks $(pgrep -P "$postmaster")) - postgres_before))
	expresso_rates+=("$(rate "$messages" "$start" "$end")")
	expresso_cpu+=("$(cpu_ms $((daemon_ticks + postgres_ticks)))")
	expresso_daemon_cpu+=("$(cpu_ms "$daemon_ticks")")
	postgres_cpu+=("$(cpu_ms "$postgres_ticks")")
	expresso_commits+=("$(awk -v d="$(($(metric delivery_batches_total) - batches_before))" -v n="$messages" \
		'BEGIN { printf "%.3f", d / n }')")
	expresso_requests+=("$(awk -v d="$(($(metric delivery_batch_requests_total) - requests_before))" -v n="$messages" \
		'BEGIN { printf "%.3f", d / n }')")
	echo "expresso-mail round $round: ${expresso_rates[-1]} messages/s, ${expresso_cpu[-1]} ms of CPU per message" \
		"(daemon ${expresso_daemon_cpu[-1]}, PostgreSQL ${postgres_cpu[-1]})," \
		"${expresso_commits[-1]} group commits and ${expresso_requests[-1]} committer requests per message" >&2

	expected=$((round * messages))
	start=$(now)
	smtp-source -d -s "$sessions" -m "$messages" -l "$size" -f bench@example.org -t bench@bench.expresso.test \
		"127.0.0.1:$postfix_port"
	# Bounded wait for the queue to drain into the Maildir: at most 10 minutes.
	for _ in $(seq 6000); do
		count=$(find "$maildir" -type f 2>/dev/null | wc -l)
		[ "$count" -ge "$expected" ] && break
		sleep 0.1
	done
	end=$(now)
	[ "$count" -ge "$expected" ] ||
		{ echo "only $count of $expected messages reached Dovecot; see $work/postfix/postfix.log" >&2; exit 1; }
	postfix_rates+=("$(rate "$messages" "$start" "$end")")
	echo "Postfix + Dovecot round $round: ${postfix_rates[-1]} messages/s" >&2
done
kill "$expresso_pid"
wait "$expresso_pid" 2>/dev/null || true
expresso_pid=""
remove_bench_messages
bench_messages_sent=0

expresso_rate=$(median %.1f "${expresso_rates[@]}")
postfix_rate=$(median %.1f "${postfix_rates[@]}")
printf '%-34s %-24s %10s\n' "receiver ($messages x 10 KB, $sessions sessions)" "rounds (messages/s)" "median"
printf '%-34s %-24s %10s\n' "expresso-mail (250 after commit)" "${expresso_rates[*]}" "$expresso_rate"
printf '%-34s %-24s %10s\n' "Postfix + LMTP + Dovecot Maildir" "${postfix_rates[*]}" "$postfix_rate"
awk -v a="$expresso_rate" -v b="$postfix_rate" 'BEGIN { printf "ratio of the medians, expresso / postfix+dovecot: %.2f\n", a / b }'
echo "expresso-mail and PostgreSQL CPU per message (ms), median: $(median %.2f "${expresso_cpu[@]}")" \
	"(daemon $(median %.2f "${expresso_daemon_cpu[@]}"), PostgreSQL $(median %.2f "${postgres_cpu[@]}"))"
echo "group commit transactions per message, median: $(median %.3f "${expresso_commits[@]}");" \
	"committer requests per message, median: $(median %.3f "${expresso_requests[@]}")"
