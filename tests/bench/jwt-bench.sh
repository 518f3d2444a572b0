#!/usr/bin/env bash
# Builds tests/bench/jwt in Release mode and prints validations per second
# of one cached RS256 token through ex_auth_verify next to raw OpenSSL
# EVP_DigestVerify of the same signature, and their ratio.
#
# Usage: tests/bench/jwt-bench.sh [seconds-per-run]   (default 1; each
# cell is the best of 5 runs, so the whole benchmark takes 20 runs)
# Build directory: $EXPRESSO_JWT_BENCH_BUILD_DIR, default <repo>/build-bench-jwt.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${EXPRESSO_JWT_BENCH_BUILD_DIR:-$repo/build-bench-jwt}

cmake -S "$repo/tests/bench/jwt" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 >/dev/null
"$build/jwt_bench" "$@"
