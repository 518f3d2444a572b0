#!/usr/bin/env bash
# Builds Expresso and runs every test: the compose file check
# (docker-compose config), static analysis (cppcheck,
# clang-tidy), unit tests (ctest, cmocka) in a normal and in an
# AddressSanitizer+UndefinedBehaviorSanitizer build, a
# short libFuzzer run of every fuzz target plus its kept regression inputs,
# and the end-to-end suite (node --test) against a stack of its own
# (state .local/test, ports shifted by 10000), which it stops at the end.
#
# Environment: EXPRESSO_FUZZ_SECONDS (default 20) per fuzz target, one
# target per core at a time;
# EXPRESSO_TEST_SKIP_SANITIZE=1, EXPRESSO_TEST_SKIP_FUZZ=1 and
# EXPRESSO_TEST_SKIP_STATIC=1 skip those groups.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
. "$EXPRESSO_ROOT/scripts/lib/packages.sh"

export EXPRESSO_STATE_DIR=${EXPRESSO_TEST_STATE_DIR:-$EXPRESSO_ROOT/.local/test}
export EXPRESSO_PORT_OFFSET=${EXPRESSO_TEST_PORT_OFFSET:-10000}
export EXPRESSO_BUILD_DIR
fuzz_seconds=${EXPRESSO_FUZZ_SECONDS:-20}
# Leaks inside third-party libraries we cannot fix; ours still fail.
export LSAN_OPTIONS=suppressions=$EXPRESSO_ROOT/tests/lsan.supp
failures=()
started=$(date +%s)

step() { printf '\n==== %s\n' "$*"; }
record() { # record NAME STATUS
	if [ "$2" -ne 0 ]; then failures+=("$1"); printf '**** FAILED: %s\n' "$1"; fi
}

set -e
ensure_debian_packages
ensure_npm_packages "$EXPRESSO_ROOT/tools/dev-oidc"
ensure_npm_packages "$EXPRESSO_ROOT/tests/e2e"
set +e

step "starting the test stack in ${EXPRESSO_STATE_DIR#"$EXPRESSO_ROOT"/}"
"$EXPRESSO_ROOT/scripts/run-local.sh" --detach || { echo "the test stack did not start"; exit 1; }
trap '"$EXPRESSO_ROOT/scripts/run-local.sh" --stop' EXIT
set -a
# shellcheck disable=SC1091
. "$EXPRESSO_STATE_DIR/stack.env"
set +a

step "unit tests"
ctest --test-dir "$EXPRESSO_BUILD_DIR" --output-on-failure --timeout 300
record "unit tests" $?

if [ "${EXPRESSO_TEST_SKIP_STATIC:-0}" != 1 ]; then
	step "static analysis"
	"$EXPRESSO_ROOT/scripts/quality-check.sh"
	record "static analysis" $?
fi

if [ "${EXPRESSO_TEST_SKIP_SANITIZE:-0}" != 1 ]; then
	step "unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
	sanitize_dir=$EXPRESSO_ROOT/build-sanitize
	if cmake -S "$EXPRESSO_ROOT" -B "$sanitize_dir" -DCMAKE_BUILD_TYPE=Debug -DEXPRESSO_SANITIZE=ON >/dev/null &&
	   cmake --build "$sanitize_dir" -j"$(nproc)" >/dev/null; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			LSAN_OPTIONS=suppressions=$EXPRESSO_ROOT/tests/lsan.supp \
			ctest --test-dir "$sanitize_dir" --output-on-failure --timeout 300
		record "sanitizer unit tests" $?
	else
		record "sanitizer build" 1
	fi
fi

if [ "${EXPRESSO_TEST_SKIP_FUZZ:-0}" != 1 ]; then
	step "fuzzing every target for ${fuzz_seconds}s"
	fuzz_dir=$EXPRESSO_ROOT/build-fuzz
	if CC=clang cmake -S "$EXPRESSO_ROOT" -B "$fuzz_dir" -DCMAKE_BUILD_TYPE=Debug -DEXPRESSO_FUZZ=ON \
		-DEXPRESSO_TESTS=OFF >/dev/null && cmake --build "$fuzz_dir" -j"$(nproc)" >/dev/null; then
		mapfile -t targets < <(find "$fuzz_dir/tests/fuzz" -type f -name 'fuzz_*' -perm -u+x | sort)
		# One target per core at a time; each writes its logs and status under its work directory.
		printf '%s\n' "${targets[@]}" |
			xargs -P "$(nproc)" -I{} "$EXPRESSO_ROOT/scripts/lib/fuzz-target.sh" {} "$fuzz_seconds"
		for target in "${targets[@]}"; do
			name=$(basename "$target")
			work=$EXPRESSO_STATE_DIR/fuzz/$name
			if [ -f "$work/regressions.status" ]; then
				status=$(cat "$work/regressions.status")
				[ "$status" -eq 0 ] || tail -30 "$work/regressions.log"
				record "$name regression inputs" "$status"
			fi
			status=$(cat "$work/fuzz.status" 2>/dev/null || echo 1)
			grep -E '^stat::number_of_executed_units' "$work/fuzz.log" | sed "s/^/$name /"
			[ "$status" -eq 0 ] || tail -40 "$work/fuzz.log"
			record "$name fuzzing" "$status"
		done
	else
		record "fuzz build" 1
	fi
fi

step "deployment files"
docker-compose -f "$EXPRESSO_ROOT/deploy/compose.yaml" --env-file "$EXPRESSO_ROOT/deploy/env.example" config -q
record "compose file check" $?

step "end-to-end tests"
(cd "$EXPRESSO_ROOT/tests/e2e" && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs)
record "end-to-end tests" $?

elapsed=$(( $(date +%s) - started ))
step "finished in ${elapsed}s"
if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failures[@]}"
	exit 1
fi
echo "all test groups passed"
