#!/bin/bash
# Change engine benchmarks (SPEC §4.8, issue 12). Not part of `make check`;
# prints numbers and ratios, asserts nothing on time.
#
#   tests/bench/engine.sh [all|throughput|settle]
#
# throughput: ENG_N changes of 3 no-op tasks added from one thread, then
#        engine_settle(), through the daemon's engine (store_open() +
#        store_start(), default options: 4 workers, prune_age 86400, so
#        at most 500 ready changes are kept), in changes per second; against
#        the floor, the same rows written directly through the db layer in
#        the 5 transactions the engine commits per change (insert; Doing;
#        3 x Done), and in 1 transaction per change. ratio = engine / floor
#        (target >= 0.3). Median of ENG_REPS runs, each on a fresh store.
# settle: SETTLE_N times a change of one no-op task, then engine_settle():
#        the time from the handler's return to settle's return (the Done
#        commit and the wake-up), median, p99 and max (target < 5 ms).
#
# engine_load.c is compiled against a non-sanitizer libcharmfs.a.
# Environment: BUILD (default /tmp/bench-build, which needs
# .libs/libcharmfs.a), OUT (default tests/bench/out/engine), ENG_N (5000),
# ENG_REPS (3), SETTLE_N (1000).
# Build without sanitizers, never inside the source tree:
#   cd /work/main && autoreconf -fi
#   mkdir -p /tmp/bench-build && cd /tmp/bench-build &&
#     /work/main/configure CFLAGS='-O2 -g' && make -j2 libcharmfs.la
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-/tmp/bench-build}
OUT=${OUT:-$HERE/out/engine}
MODE=${1:-all}
ENG_N=${ENG_N:-5000}
ENG_REPS=${ENG_REPS:-3}
SETTLE_N=${SETTLE_N:-1000}

die() { echo "engine.sh: $*" >&2; exit 1; }
median() { sort -g | awk '{v[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

lib=$BUILD/.libs/libcharmfs.a
[ -f "$lib" ] || die "no $lib: make -C $BUILD libcharmfs.la (see the header)"
mkdir -p "$OUT"
libs=$(sed -n -E 's/^(SQLITE|LIBARCHIVE|CRYPTO|YAML|JANSSON|MHD)_LIBS = //p' "$BUILD/Makefile" | tr '\n' ' ')
# shellcheck disable=SC2086
gcc -O2 -g -Wall -I"$BUILD" -I"$HERE/../../backend" -o "$OUT/engine_load" \
	"$HERE/engine_load.c" "$lib" $libs -lpthread

# load MODE N: one run on a fresh store; prints its output line.
load() {
	rm -rf "$OUT/store"
	"$OUT/engine_load" "$OUT/store" "$1" "$2"
	rm -rf "$OUT/store"
}

bench_throughput() {
	local rep m e f f1
	declare -A R=()
	for rep in $(seq 1 "$ENG_REPS"); do
		for m in engine floor floor1; do
			R[$m]+="$(load $m "$ENG_N" | awk '{print $4}')"$'\n'
		done
	done
	e=$(printf '%s' "${R[engine]}" | median)
	f=$(printf '%s' "${R[floor]}" | median)
	f1=$(printf '%s' "${R[floor1]}" | median)
	echo
	echo "### throughput: $ENG_N changes of 3 no-op tasks (changes/s, median of $ENG_REPS)"
	echo
	echo "| engine (store_start, 4 workers) | floor: 5 tx/change | ratio (target >= 0.3) | floor: 1 tx/change | ratio |"
	echo "|---:|---:|---:|---:|---:|"
	printf '| %.0f | %.0f | %.2f | %.0f | %.2f |\n' "$e" "$f" \
		"$(awk -v a="$e" -v b="$f" 'BEGIN{print a/b}')" "$f1" \
		"$(awk -v a="$e" -v b="$f1" 'BEGIN{print a/b}')"
}

bench_settle() {
	local line
	line=$(load settle "$SETTLE_N")
	echo
	echo "### settle latency after the last task's handler returns ($SETTLE_N changes, us)"
	echo
	echo "| median | p99 | max | target |"
	echo "|---:|---:|---:|---|"
	awk '{printf "| %s | %s | %s | < 5000 |\n", $3, $4, $5}' <<<"$line"
}

echo "## engine ($(date -u +%F), $(nproc) CPUs, $lib)"
case $MODE in
all) bench_throughput; bench_settle ;;
throughput) bench_throughput ;;
settle) bench_settle ;;
*) die "usage: $0 [all|throughput|settle]" ;;
esac
