#!/bin/sh
# The fuzz smoke run of `make check` (tests/fuzz/README.md): runs each fuzz
# target over its seed corpus, then on mutations of it, for a bounded time,
# and fails when any run exits non-zero (a sanitizer report, a broken
# invariant, a leak). Two kinds of binaries are understood, looked up in
# $FUZZ_BINDIR (default: tests/fuzz under the build directory):
#   smoke_X  target + driver.c (any compiler): smoke_X -t SECONDS CORPUS
#   fuzz_X   libFuzzer target (--enable-fuzzing), used when no smoke_X exists
# Environment: FUZZ_SECONDS (default 3 per target), FUZZ_TARGETS (default
# "url meta config charm request counterq lockreq hooktool release"), SRCDIR (the source tree; default: this
# script's tree), FUZZ_ARTIFACT_DIR (where crash inputs are saved).
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${SRCDIR:-$(cd "$here/../.." && pwd)}
corpus=$srcdir/tests/fuzz/corpus
bindir=${FUZZ_BINDIR:-$(pwd)/tests/fuzz}
seconds=${FUZZ_SECONDS:-3}
targets=${FUZZ_TARGETS:-url meta config charm request counterq lockreq hooktool release}
artifacts=${FUZZ_ARTIFACT_DIR:-$(pwd)/tests/fuzz}
status=0
ran=0

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX") || exit 99
trap 'rm -rf "$scratch"' EXIT INT TERM
mkdir -p "$artifacts"
export FUZZ_ARTIFACT_DIR="$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

for t in $targets; do
	if [ ! -d "$corpus/$t" ]; then
		echo "FAIL fuzz_$t: no corpus at $corpus/$t"
		status=1
		continue
	fi
	if [ -x "$bindir/smoke_$t" ]; then
		"$bindir/smoke_$t" -t "$seconds" "$corpus/$t"
		rc=$?
	elif [ -x "$bindir/fuzz_$t" ]; then
		# libFuzzer writes new inputs to its first corpus directory: keep
		# the source tree clean by giving it a scratch one.
		mkdir -p "$scratch/$t"
		"$bindir/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
			-artifact_prefix="$artifacts/crash-fuzz_$t-" \
			"$scratch/$t" "$corpus/$t" 2>"$scratch/$t.log"
		rc=$?
		[ $rc -eq 0 ] || cat "$scratch/$t.log" >&2
		[ $rc -ne 0 ] || grep -E '^Done [0-9]+ runs' "$scratch/$t.log" |
			sed "s/^/fuzz_$t: /"
	else
		echo "SKIP fuzz_$t: neither smoke_$t nor fuzz_$t in $bindir"
		continue
	fi
	ran=$((ran + 1))
	if [ $rc -ne 0 ]; then
		echo "FAIL fuzz_$t: exit status $rc"
		status=1
	fi
done

# Automake's test protocol: 77 means skipped.
[ $ran -gt 0 ] || [ $status -ne 0 ] || exit 77
exit $status
