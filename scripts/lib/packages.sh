# Installs what the stack, the build and the tests need from Debian and
# npm, skipping what is already there. Sourced by run-local.sh and test.sh.

EXPRESSO_DEBIAN_PACKAGES=(
	# build
	build-essential cmake pkg-config clang libclang-rt-14-dev cppcheck clang-tidy
	# libraries
	libmicrohttpd-dev libjansson-dev libcyaml-dev libpq-dev libhiredis-dev libnats-dev
	libcurl4-openssl-dev libssl-dev libargon2-dev libcmocka-dev libsieve2-dev libgmime-3.0-dev
	libxml2-dev libical-dev
	# services of the local stack
	postgresql redis-server nats-server
	# scripts and tests
	curl jq openssl ca-certificates nodejs npm docker-compose chromium
	# real clients the end-to-end tests drive
	python3 vdirsyncer python3-caldav litmus radicale sieve-connect isync
	# the S3 test server's signature check (botocore is AWS's own SigV4 code)
	python3-botocore
	# the S3 server with AbortMultipartUpload of tests/e2e/drive-swift.test.mjs (Swift's s3api)
	python3-swift memcached
	# the remote SMTP server of the outbound queue tests (tests/e2e/smtp_remote.py)
	python3-aiosmtpd swaks
	# the public proxy of deploy/compose.yaml, run by tests/e2e/mail-autoconfig.test.mjs
	nginx
	# the DNS server of the outbound queue tests (tests/e2e/lib/dns_server.py)
	python3-dnslib
	# COMPRESS=DEFLATE of the IMAP server (services/mail/imap_compress.c)
	zlib1g-dev
	# the IMAP peer of tests/e2e/imap-dovecot-compare.test.mjs (ENVELOPE and BODYSTRUCTURE)
	# and of tests/bench/imap, each started with its own configuration
	dovecot-imapd
)

ensure_debian_packages() {
	local missing=() package
	for package in "${EXPRESSO_DEBIAN_PACKAGES[@]}"; do
		# nodejs may come from another repository with npm bundled; accept any node 18+.
		if [ "$package" = nodejs ] || [ "$package" = npm ]; then
			command -v node >/dev/null && command -v npm >/dev/null && continue
		fi
		if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$package")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	say "installing Debian packages: ${missing[*]}"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "missing packages ${missing[*]}; install them as root"
		sudo="sudo"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null \
		|| die "apt-get install failed for: ${missing[*]}"
}

# Installs the npm packages of one folder from its package-lock.json.
ensure_npm_packages() {
	local folder=$1
	[ -f "$folder/package.json" ] || return 0
	if [ -d "$folder/node_modules" ] && [ "$folder/node_modules/.package-lock.json" -nt "$folder/package-lock.json" ]; then
		return 0
	fi
	say "installing npm packages in ${folder#"$EXPRESSO_ROOT"/}"
	if [ -f "$folder/package-lock.json" ]; then
		(cd "$folder" && npm ci --no-audit --no-fund --loglevel=error </dev/null) || die "npm ci failed in $folder"
	else
		(cd "$folder" && npm install --no-audit --no-fund --loglevel=error </dev/null) || die "npm install failed in $folder"
	fi
}

build_expresso() {
	say "building in ${EXPRESSO_BUILD_DIR#"$EXPRESSO_ROOT"/}"
	cmake -S "$EXPRESSO_ROOT" -B "$EXPRESSO_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null \
		|| die "cmake configure failed"
	cmake --build "$EXPRESSO_BUILD_DIR" -j"$(nproc)" >/dev/null 2>"$EXPRESSO_BUILD_DIR.log" || {
		cat "$EXPRESSO_BUILD_DIR.log" >&2
		die "build failed"
	}
}
