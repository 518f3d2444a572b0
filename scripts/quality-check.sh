#!/usr/bin/env bash
# Static analysis of the whole tree: cppcheck and clang-tidy over every C
# file in compile_commands.json; any finding fails the check.
#   scripts/quality-check.sh          static analysis only
#   scripts/quality-check.sh --full   also builds with AddressSanitizer and
#                                     UndefinedBehaviorSanitizer and runs the
#                                     unit tests that need no running stack
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

full=0
case "${1:-}" in
	"") ;;
	--full) full=1 ;;
	-h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1; use --full or --help" ;;
esac

build=$EXPRESSO_ROOT/build-quality
cmake -S "$EXPRESSO_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null \
	|| die "cmake configure failed"
failed=0

say "cppcheck"
if ! cppcheck --project="$build/compile_commands.json" --enable=warning,performance,portability \
	--inline-suppr --error-exitcode=1 --quiet -j"$(nproc)" \
	--suppress=missingIncludeSystem --suppress='*:/usr/*' \
	-i"$build" 2>&1; then
	failed=1
fi

say "clang-tidy"
mapfile -t sources < <(jq -r '.[].file' "$build/compile_commands.json" | grep -E "^$EXPRESSO_ROOT/(libs|services|tests)/" | sort -u)
# clang-tidy exits non-zero on findings and on its own failures alike, so
# the findings are read from its output.
findings=$(printf '%s\n' "${sources[@]}" | xargs -P"$(nproc)" -n4 clang-tidy -p "$build" --quiet 2>/dev/null \
	| grep -E 'warning:|error:' || true)
if [ -n "$findings" ]; then
	printf '%s\n' "$findings"
	failed=1
fi

if [ $full -eq 1 ]; then
	say "unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
	sanitize=$EXPRESSO_ROOT/build-sanitize
	cmake -S "$EXPRESSO_ROOT" -B "$sanitize" -DCMAKE_BUILD_TYPE=Debug -DEXPRESSO_SANITIZE=ON >/dev/null &&
		cmake --build "$sanitize" -j"$(nproc)" >/dev/null || die "sanitizer build failed"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$EXPRESSO_ROOT/tests/lsan.supp ctest --test-dir "$sanitize" --output-on-failure || failed=1
fi

if [ $failed -ne 0 ]; then
	echo "quality check failed" >&2
	exit 1
fi
echo "quality check passed"
