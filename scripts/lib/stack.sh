# Every process started here closes file descriptor 9, the lock that
# run-local.sh holds while it starts the stack, so a running stack does not
# keep the lock.
#
# Starting and stopping the local stack: PostgreSQL, Redis, NATS with
# JetStream, the development OIDC provider and the daemons, each on
# loopback with its state under $EXPRESSO_STATE_DIR. Sourced after
# common.sh.

PG_BIN=/usr/lib/postgresql/15/bin
STATE=$EXPRESSO_STATE_DIR

# Runs a command as the unprivileged owner of the PostgreSQL data: the
# postgres user when we are root (PostgreSQL refuses to run as root),
# ourselves otherwise.
as_pg_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Secrets are generated once per state directory and then kept.
load_or_create_secrets() {
	mkdir -p "$STATE"
	chmod 755 "$STATE"
	local file=$STATE/secrets.env
	if [ ! -f "$file" ]; then
		umask 077
		cat >"$file" <<EOT
PG_SUPERUSER_PASSWORD=$(random_secret)
PG_OWNER_PASSWORD=$(random_secret)
PG_APP_PASSWORD=$(random_secret)
OIDC_CLIENT_SECRET=$(random_secret 32)
ALICE_PASSWORD=$(random_secret 16)
BOB_PASSWORD=$(random_secret 16)
ADMIN_PASSWORD=$(random_secret 16)
CAROL_PASSWORD=$(random_secret 16)
ALICE_APP_PASSWORD=$(random_secret 24)
BOB_APP_PASSWORD=$(random_secret 24)
ADMIN_APP_PASSWORD=$(random_secret 24)
CAROL_APP_PASSWORD=$(random_secret 24)
EOT
		umask 022
	fi
	# shellcheck disable=SC1090
	. "$file"
	EXPRESSO_DATABASE_URL="postgresql://expresso_app:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/expresso"
	EXPRESSO_DATABASE_OWNER_URL="postgresql://expresso_owner:$PG_OWNER_PASSWORD@127.0.0.1:$PG_PORT/expresso"
	EXPRESSO_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
	EXPRESSO_NATS_URL="nats://127.0.0.1:$NATS_PORT"
	EXPRESSO_OIDC_ISSUER="http://127.0.0.1:$OIDC_PORT/realms/expresso"
}

# The demo tenants and accounts, with this state directory's passwords.
write_accounts() {
	jq -n \
		--arg alice "$ALICE_PASSWORD" --arg bob "$BOB_PASSWORD" \
		--arg admin "$ADMIN_PASSWORD" --arg carol "$CAROL_PASSWORD" \
		--arg alice_app "$ALICE_APP_PASSWORD" --arg bob_app "$BOB_APP_PASSWORD" \
		--arg admin_app "$ADMIN_APP_PASSWORD" --arg carol_app "$CAROL_APP_PASSWORD" \
		-f "$EXPRESSO_ROOT/scripts/seed/accounts.jq" >"$STATE/accounts.json.tmp"
	chmod 600 "$STATE/accounts.json.tmp"
	mv "$STATE/accounts.json.tmp" "$STATE/accounts.json"
}

# A local CA and one server certificate for 127.0.0.1 and localhost, for
# the daemons' TLS ports; clients trust $EXPRESSO_TLS_CA.
ensure_tls() {
	local dir=$STATE/tls
	[ -f "$dir/server.pem" ] && return 0
	say "creating the local certificate authority in ${dir#"$EXPRESSO_ROOT"/}"
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Expresso local CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
		-days 825 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
	chmod 600 "$dir/ca.key" "$dir/server.key"
}

start_postgres() {
	local data=$STATE/pg
	mkdir -p "$STATE/logs" "$STATE/run" "$STATE/storage"
	if [ ! -f "$data/PG_VERSION" ]; then
		say "initialising PostgreSQL in ${data#"$EXPRESSO_ROOT"/}"
		mkdir -p "$data"
		printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$STATE/run/pgpass"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$data" "$STATE/run/pgpass"
		chmod 700 "$data"
		as_pg_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth=scram-sha-256 \
			--pwfile="$STATE/run/pgpass" -E UTF8 --locale=C.UTF-8 >/dev/null 9>&- \
			|| die "initdb failed"
		rm -f "$STATE/run/pgpass"
		cat >>"$data/postgresql.conf" <<EOT
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 128MB
EOT
	fi
	if as_pg_owner "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		return 0
	fi
	say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
	touch "$STATE/logs/postgresql.log"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$STATE/logs/postgresql.log"
	as_pg_owner "$PG_BIN/pg_ctl" -D "$data" -l "$STATE/logs/postgresql.log" -w -t 60 start >/dev/null 9>&- \
		|| die "PostgreSQL did not start; see $STATE/logs/postgresql.log"
}

psql_superuser() {
	PGPASSWORD=$PG_SUPERUSER_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# Creates the roles and the database once: expresso_owner owns the schema
# and runs migrations; expresso_app is the daemons' role, owning nothing.
bootstrap_database() {
	psql_superuser -d postgres \
		-v owner_password="$PG_OWNER_PASSWORD" -v app_password="$PG_APP_PASSWORD" \
		-f "$EXPRESSO_ROOT/scripts/seed/bootstrap-roles.sql" >/dev/null \
		|| die "creating the database roles failed"
	if ! psql_superuser -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'expresso'" | grep -q 1; then
		psql_superuser -d postgres -c "CREATE DATABASE expresso OWNER expresso_owner" >/dev/null
	fi
	psql_superuser -d expresso -f "$EXPRESSO_ROOT/scripts/seed/bootstrap-schema.sql" >/dev/null \
		|| die "preparing the expresso schema failed"
}

migrate_and_seed() {
	local migrate=$EXPRESSO_BUILD_DIR/services/migrate/expresso-migrate
	[ -x "$migrate" ] || die "$migrate is missing; the build did not produce it"
	say "applying migrations"
	EXPRESSO_DATABASE_OWNER_URL=$EXPRESSO_DATABASE_OWNER_URL "$migrate" --dir "$EXPRESSO_ROOT/migrations" apply \
		2>>"$STATE/logs/migrate.log" || die "migrations failed; see $STATE/logs/migrate.log"
	say "seeding the demo tenants"
	EXPRESSO_DATABASE_OWNER_URL=$EXPRESSO_DATABASE_OWNER_URL "$migrate" --dir "$EXPRESSO_ROOT/migrations" \
		seed "$STATE/accounts.json" 2>>"$STATE/logs/migrate.log" || die "seeding failed; see $STATE/logs/migrate.log"
}

start_redis() {
	pid_alive "$STATE/run/redis.pid" && return 0
	say "starting Redis on 127.0.0.1:$REDIS_PORT"
	mkdir -p "$STATE/redis"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis" --daemonize yes \
		--pidfile "$STATE/run/redis.pid" --logfile "$STATE/logs/redis.log" --save "" \
		--appendonly no --protected-mode yes >/dev/null 9>&- || die "Redis did not start"
	local i
	for ((i = 0; i < 50; i++)); do
		redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	die "Redis did not reply to PING within 5 s; see $STATE/logs/redis.log"
}

start_nats() {
	pid_alive "$STATE/run/nats.pid" && return 0
	say "starting NATS with JetStream on 127.0.0.1:$NATS_PORT"
	mkdir -p "$STATE/nats"
	local monitor_port=$(( NATS_PORT + 4000 ))
	nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$STATE/nats" -m "$monitor_port" \
		--pid "$STATE/run/nats.pid" -l "$STATE/logs/nats.log" </dev/null >/dev/null 2>&1 9>&- &
	wait_http_ok "http://127.0.0.1:$monitor_port/healthz?js-enabled-only=true" 30 \
		|| die "NATS did not become healthy; see $STATE/logs/nats.log"
}

start_oidc() {
	pid_alive "$STATE/run/oidc.pid" && return 0
	[ -f "$EXPRESSO_ROOT/tools/dev-oidc/server.mjs" ] || die "tools/dev-oidc/server.mjs is missing"
	say "starting the development OIDC provider at $EXPRESSO_OIDC_ISSUER"
	mkdir -p "$STATE/oidc"
	# On a busy machine the provider has been seen to hang on its first start before it wrote its
	# signing key, and to start at once the next time. So a provider that does not respond to
	# /health is stopped and started again.
	local attempt pid
	for attempt in 1 2 3; do
		DEV_OIDC_PORT=$OIDC_PORT DEV_OIDC_HOST=127.0.0.1 DEV_OIDC_ISSUER=$EXPRESSO_OIDC_ISSUER \
			DEV_OIDC_ACCOUNTS=$STATE/accounts.json DEV_OIDC_STATE_DIR=$STATE/oidc \
			EXPRESSO_OIDC_CLIENT_SECRET=$OIDC_CLIENT_SECRET \
			DEV_OIDC_AUTH_REDIRECT_URI="http://127.0.0.1:$(port 8100)/auth/callback" \
			DEV_OIDC_POST_LOGOUT_REDIRECT_URI="http://127.0.0.1:$(port 8100)/" \
			nohup node "$EXPRESSO_ROOT/tools/dev-oidc/server.mjs" </dev/null >>"$STATE/logs/oidc.log" 2>&1 9>&- &
		pid=$!
		echo "$pid" >"$STATE/run/oidc.pid"
		wait_http_ok "http://127.0.0.1:$OIDC_PORT/health" 30 && return 0
		warn "the OIDC provider did not answer within 30 s (attempt $attempt of 3)"
		kill "$pid" 2>/dev/null
		sleep 1
		kill -9 "$pid" 2>/dev/null
	done
	rm -f "$STATE/run/oidc.pid"
	die "the OIDC provider did not start; see $STATE/logs/oidc.log, and run the same command with --stop to stop what was started"
}

# Stops the start when something already listens on 127.0.0.1:$1, which daemon $2 needs, such as
# the stack of another checkout. The daemon would fail to bind, and the other process would pass its /ready check.
require_free_port() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		die "127.0.0.1:$1, a port of $2, is taken by another process (see: ss -ltnp 'sport = :$1'); stop it, or give this stack other ports with EXPRESSO_PORT_OFFSET=N and its own EXPRESSO_STATE_DIR; run the same command with --stop to stop what was started"
	fi
}

# Starts every HTTP daemon whose binary exists.
start_daemons() {
	local entry name binary default_port variable needs path mail_port
	for entry in "${EXPRESSO_DAEMONS[@]}"; do
		read -r name binary default_port variable needs <<<"$entry"
		path=$(find "$EXPRESSO_BUILD_DIR/services" -maxdepth 2 -type f -name "$binary" 2>/dev/null | head -1)
		[ -n "$path" ] || continue
		pid_alive "$STATE/run/$name.pid" && continue
		local http_port
		http_port=$(port "$default_port")
		require_free_port "$http_port" "$binary"
		if [ "$name" = mail ]; then
			for mail_port in "$SMTP_PORT" "$SUBMISSION_PORT" "$SUBMISSIONS_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$MANAGESIEVE_PORT"; do
				require_free_port "$mail_port" "$binary"
			done
		fi
		say "starting $binary on 127.0.0.1:$http_port"
		(
			export EXPRESSO_HTTP_ADDRESS=127.0.0.1 EXPRESSO_HTTP_PORT=$http_port
			export EXPRESSO_OIDC_ISSUER EXPRESSO_OIDC_CLIENT_SECRET=$OIDC_CLIENT_SECRET
			export EXPRESSO_PUBLIC_URL="http://127.0.0.1:$http_port" EXPRESSO_COOKIE_SECURE=false
			export EXPRESSO_TLS_CERT=$STATE/tls/server.pem EXPRESSO_TLS_KEY=$STATE/tls/server.key
			export EXPRESSO_STORAGE_DIR=$STATE/storage
			export EXPRESSO_SMTP_PORT=$SMTP_PORT EXPRESSO_SUBMISSION_PORT=$SUBMISSION_PORT
			export EXPRESSO_SUBMISSIONS_PORT=$SUBMISSIONS_PORT EXPRESSO_IMAP_PORT=$IMAP_PORT
			export EXPRESSO_IMAPS_PORT=$IMAPS_PORT EXPRESSO_MANAGESIEVE_PORT=$MANAGESIEVE_PORT
			# What expresso-mail's set-up documents (autoconfig, Apple profile) tell clients.
			export EXPRESSO_MAIL_PUBLIC_HOSTNAME=localhost
			export EXPRESSO_CALDAV_PUBLIC_URL="http://127.0.0.1:$(port 8002)/"
			export EXPRESSO_CARDDAV_PUBLIC_URL="http://127.0.0.1:$(port 8003)/"
			export EXPRESSO_MAIL_DRIVE_URL="http://127.0.0.1:$(port 8004)"
			# The local stack sends no mail off the machine: expresso-mail queues mail for other
			# domains but runs no delivery workers. Tests start their own instance with routes to
			# SMTP servers on loopback.
			export EXPRESSO_OUTBOUND_WORKERS=0
			case ",$needs," in *,database,*) export EXPRESSO_DATABASE_URL ;; esac
			case ",$needs," in *,redis,*) export EXPRESSO_REDIS_URL ;; esac
			case ",$needs," in *,nats,*) export EXPRESSO_NATS_URL ;; esac
			exec nohup "$path" </dev/null >>"$STATE/logs/$name.log" 2>&1
		) 9>&- &
		echo $! >"$STATE/run/$name.pid"
	done
}

# Stops the start when daemon $1, started as binary $2, has exited.
require_daemon_alive() {
	pid_alive "$STATE/run/$1.pid" \
		|| die "$2 exited at start; see $STATE/logs/$1.log, and run the same command with --stop to stop what was started"
}

# Waits until every started daemon's /ready returns 200, and stops the start when one has exited.
wait_daemons_ready() {
	local entry name binary default_port variable needs
	for entry in "${EXPRESSO_DAEMONS[@]}"; do
		read -r name binary default_port variable needs <<<"$entry"
		[ -f "$STATE/run/$name.pid" ] || continue
		require_daemon_alive "$name" "$binary"
		wait_http_ok "http://127.0.0.1:$(port "$default_port")/ready" 60 \
			|| die "$binary is not ready; see $STATE/logs/$name.log"
		require_daemon_alive "$name" "$binary"
	done
}

write_stack_env() {
	local file=$STATE/stack.env entry name binary default_port variable needs
	{
		echo "# Written by scripts/run-local.sh; source it: . $file"
		echo "EXPRESSO_STATE_DIR='$STATE'"
		echo "EXPRESSO_PORT_OFFSET=$EXPRESSO_PORT_OFFSET"
		echo "EXPRESSO_BUILD_DIR='$EXPRESSO_BUILD_DIR'"
		echo "EXPRESSO_OIDC_ISSUER='$EXPRESSO_OIDC_ISSUER'"
		echo "EXPRESSO_OIDC_CLIENT_SECRET='$OIDC_CLIENT_SECRET'"
		for entry in "${EXPRESSO_DAEMONS[@]}"; do
			read -r name binary default_port variable needs <<<"$entry"
			pid_alive "$STATE/run/$name.pid" || continue
			echo "EXPRESSO_${variable}_URL='http://127.0.0.1:$(port "$default_port")'"
		done
		echo "# Mail ports of expresso-mail (SMTP, submission, IMAP, ManageSieve)."
		[ "$(id -u)" -eq 0 ] || echo "# Not root, so these are high ports instead of 25, 587, 465, 143, 993."
		echo "EXPRESSO_SMTP_PORT=$SMTP_PORT"
		echo "EXPRESSO_SUBMISSION_PORT=$SUBMISSION_PORT"
		echo "EXPRESSO_SUBMISSIONS_PORT=$SUBMISSIONS_PORT"
		echo "EXPRESSO_IMAP_PORT=$IMAP_PORT"
		echo "EXPRESSO_IMAPS_PORT=$IMAPS_PORT"
		echo "EXPRESSO_MANAGESIEVE_PORT=$MANAGESIEVE_PORT"
		echo "EXPRESSO_TLS_CA='$STATE/tls/ca.pem'"
		echo "EXPRESSO_DATABASE_URL='$EXPRESSO_DATABASE_URL'"
		echo "EXPRESSO_DATABASE_OWNER_URL='$EXPRESSO_DATABASE_OWNER_URL'"
		echo "EXPRESSO_REDIS_URL='$EXPRESSO_REDIS_URL'"
		echo "EXPRESSO_NATS_URL='$EXPRESSO_NATS_URL'"
		local account upper password app_password
		for account in alice bob admin carol; do
			upper=${account^^}
			password=${upper}_PASSWORD
			app_password=${upper}_APP_PASSWORD
			local domain=demo.expresso.test
			[ "$account" = carol ] && domain=acme.expresso.test
			echo "EXPRESSO_${upper}_EMAIL='$account@$domain'"
			echo "EXPRESSO_${upper}_PASSWORD='${!password}'"
			echo "EXPRESSO_${upper}_APP_PASSWORD='${!app_password}'"
		done
	} >"$file.tmp"
	chmod 600 "$file.tmp"
	mv "$file.tmp" "$file"
}

print_endpoints() {
	# shellcheck disable=SC1091
	. "$STATE/stack.env"
	cat <<EOT

Expresso local stack is up.
  OIDC issuer     $EXPRESSO_OIDC_ISSUER
$(grep -E '^EXPRESSO_[A-Z_]+_URL=.http' "$STATE/stack.env" | sed -E "s/^EXPRESSO_([A-Z_]+)_URL='(.*)'/\1 \2/" \
	| while read -r daemon url; do printf '  %-15s %s\n' "$daemon" "$url"; done)
  PostgreSQL      127.0.0.1:$PG_PORT (database expresso)
  Redis           127.0.0.1:$REDIS_PORT
  NATS            127.0.0.1:$NATS_PORT (JetStream)
  Demo accounts   alice@demo.expresso.test, bob@demo.expresso.test,
                  admin@demo.expresso.test, carol@acme.expresso.test
  Passwords, app passwords and every endpoint: $STATE/stack.env
  Logs: $STATE/logs/
EOT
}

# Stops everything started from this state directory, daemons first.
stop_stack() {
	local pidfile
	for pidfile in "$STATE"/run/*.pid; do
		[ -e "$pidfile" ] || continue
		case $(basename "$pidfile") in redis.pid|nats.pid) continue ;; esac
		stop_pid "$pidfile"
	done
	[ -f "$STATE/run/nats.pid" ] && stop_pid "$STATE/run/nats.pid"
	if [ -f "$STATE/run/redis.pid" ]; then
		stop_pid "$STATE/run/redis.pid"
	fi
	if [ -f "$STATE/pg/PG_VERSION" ] && as_pg_owner "$PG_BIN/pg_ctl" -D "$STATE/pg" status >/dev/null 2>&1; then
		as_pg_owner "$PG_BIN/pg_ctl" -D "$STATE/pg" -m fast -w stop >/dev/null
	fi
}

# Sends SIGTERM, waits up to 30 s, then SIGKILL.
stop_pid() {
	local pidfile=$1 pid i
	pid=$(cat "$pidfile" 2>/dev/null) || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pidfile"
}
