#!/bin/bash
# counters/ benchmarks (SPEC §4.4). Not part of `make check`; prints numbers
# and ratios, asserts nothing on time.
#
#   tests/bench/counters.sh [all|inc|query]
#
# inc:   counter.inc writes per second from 1 and from 4 processes (4 on the
#        same key, and 4 on 4 keys), against the same number of one-byte
#        O_APPEND writes to a file (the same one, or 4 files) on a
#        passthrough_ll mount of a directory on the same disk.
#        ratio = charmfs rate / passthrough rate (target >= 0.8).
# query: 1,000,000 increments over 10,000 keys charm-bundle:SERIES:cNNN
#        (10 series x 1,000 names) and the 365 days of 2013, loaded by
#        counters_load.c (store_open() + counter_inc_tx(), batches of 10,000,
#        daemon stopped: the store's own code path). Times `cat` of the root's
#        counter.total and of charm-bundle/trusty/ counter.list, counter.by-day
#        and counter.by-week (1,000 children, 365 days) at 100,000 and at
#        1,000,000 increments: the cost should follow the size of the answer,
#        not the number of increments.
#
# Environment: BUILD (non-sanitizer build dir with charmfs and
# .libs/libcharmfs.a, default /tmp/bench-counters-build), CHARMFS (default
# $BUILD/charmfs), OUT (default tests/bench/out/counters), INC_N (writes per
# measurement, default 20000), INC_REPS (3), Q_REPS (20), DROP_CACHES (0),
# PT_OPTS.
# Build without sanitizers, never inside the source tree:
#   cd /work/main && autoreconf -fi
#   mkdir -p /tmp/bench-counters-build && cd /tmp/bench-counters-build &&
#     /work/main/configure CFLAGS='-O2 -g' && make -j2 charmfs libcharmfs.la
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-/tmp/bench-counters-build}
CHARMFS=${CHARMFS:-$BUILD/charmfs}
OUT=${OUT:-$HERE/out/counters}
. "$HERE/lib.sh"

MODE=${1:-all}
INC_N=${INC_N:-20000}
INC_REPS=${INC_REPS:-3}
Q_REPS=${Q_REPS:-20}
REF=$OUT/ref                # passthrough_ll source directory

trap 'stop_all' EXIT
trap 'exit 130' INT TERM

[ -x "$CHARMFS" ] || die "no charmfs binary at $CHARMFS (see the header)"
"$HERE/build-refs.sh" >/dev/null
mkdir -p "$OUT/mnt" "$REF"

median() { sort -g | awk '{v[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# writers PATH_TEMPLATE NPROC TOTAL: NPROC processes (started, then released
# together by a barrier) write TOTAL one-byte writes in all, each through
# one descriptor, to PATH_TEMPLATE with {p} replaced by the process number.
# Prints writes per second: TOTAL / (last end - first start).
writers() {
	python3 - "$@" <<'PY'
import multiprocessing as mp, os, sys, time
tmpl, nproc, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
inc = "counter.inc" in tmpl
data = b"\n" if inc else b"x"
flags = os.O_WRONLY if inc else os.O_WRONLY | os.O_APPEND
def work(p, k, bar, q):
    fd = os.open(tmpl.replace("{p}", str(p)), flags)
    bar.wait()
    t0 = time.monotonic()
    for _ in range(k):
        if os.write(fd, data) != 1:
            raise SystemExit("short write")
    t1 = time.monotonic()
    os.close(fd)
    q.put((t0, t1))
ctx = mp.get_context("fork")
bar, q = ctx.Barrier(nproc), ctx.Queue()
ps = [ctx.Process(target=work, args=(p, total // nproc, bar, q)) for p in range(nproc)]
for p in ps: p.start()
res = [q.get() for _ in ps]
for p in ps: p.join()
if any(p.exitcode for p in ps): raise SystemExit("a writer failed")
print("%.0f" % (total / (max(r[1] for r in res) - min(r[0] for r in res))))
PY
}

bench_inc() {
	local cf=$MNT_CF/counters pt=$MNT_PT rep case nproc tmpl_cf tmpl_pt r_cf r_pt p
	STORE=$OUT/store-inc
	rm -rf "$STORE" "${REF:?}"/*
	start_fs charmfs "$MNT_CF"
	start_fs pt "$MNT_PT"
	for p in 0 1 2 3; do mkdir -p "$cf/bench/k$p"; done
	declare -A CF_S=() PT_S=()
	for rep in $(seq 1 "$INC_REPS"); do
		for case in "1 same" "4 same" "4 distinct"; do
			set -- $case
			nproc=$1
			if [ "$2" = same ]; then
				tmpl_cf=$cf/bench/k0/counter.inc tmpl_pt=$pt/f0
			else
				tmpl_cf=$cf/bench/k{p}/counter.inc tmpl_pt=$pt/f{p}
			fi
			for p in 0 1 2 3; do : >"$REF/f$p"; done
			r_cf=$(writers "$tmpl_cf" "$nproc" "$INC_N")
			r_pt=$(writers "$tmpl_pt" "$nproc" "$INC_N")
			CF_S[$case]+="$r_cf"$'\n'
			PT_S[$case]+="$r_pt"$'\n'
		done
	done
	# Every write counted exactly once, every append landed.
	local want=$((INC_REPS * INC_N * 3)) got
	got=$(cat "$cf/bench/counter.total")
	[ "$got" = "$want" ] || log "warning: counted $got increments, expected $want"
	got=$(stat -c %s "$REF/f0")
	[ "$got" = "$((INC_N / 4))" ] || log "warning: f0 holds $got bytes, expected $((INC_N / 4))"
	stop_fs "$MNT_PT"
	stop_fs "$MNT_CF"

	echo
	echo "### counter.inc writes/s ($INC_N writes per run, median of $INC_REPS)"
	echo
	echo "| writers | charmfs counter.inc | passthrough_ll append | ratio (target >= 0.8) |"
	echo "|---|---:|---:|---:|"
	for case in "1 same" "4 same" "4 distinct"; do
		r_cf=$(printf '%s' "${CF_S[$case]}" | median)
		r_pt=$(printf '%s' "${PT_S[$case]}" | median)
		case $case in
		"1 same") label="1 process" ;;
		"4 same") label="4 processes, 1 key / 1 file" ;;
		*) label="4 processes, 4 keys / 4 files" ;;
		esac
		printf '| %s | %.0f | %.0f | %.2f |\n' "$label" "$r_cf" "$r_pt" \
			"$(awk -v a="$r_cf" -v b="$r_pt" 'BEGIN{print a/b}')"
	done
}

# read_times PATH: "bytes first_ms cat_ms read_ms": the first `cat` of PATH
# since the daemon started (SQLite page cache cold for it; with
# DROP_CACHES=1 the kernel's caches are dropped first, which disturbs any
# other benchmark running on the machine), then the medians of Q_REPS `cat`
# processes and of Q_REPS in-process open/read/close.
read_times() {
	[ "${DROP_CACHES:-0}" = 1 ] && drop_caches
	python3 - "$1" "$Q_REPS" <<'PY'
import os, subprocess, sys, time
path, reps = sys.argv[1], int(sys.argv[2])
def cat():
    t = time.perf_counter()
    out = subprocess.run(["cat", path], check=True, stdout=subprocess.PIPE).stdout
    return time.perf_counter() - t, len(out)
def rd():
    t = time.perf_counter()
    with open(path, "rb") as f:
        f.read()
    return time.perf_counter() - t
cold, size = cat()
cats = sorted(cat()[0] for _ in range(reps))
rds = sorted(rd() for _ in range(reps))
print(size, "%.3f" % (cold * 1e3), "%.3f" % (cats[reps // 2] * 1e3), "%.3f" % (rds[reps // 2] * 1e3))
PY
}

declare -A QT=()
QFILES=("counter.total" "charm-bundle/trusty/counter.list" "charm-bundle/trusty/counter.by-day"
	"charm-bundle/trusty/counter.by-week")

measure_queries() {
	local at=$1 f
	start_fs charmfs "$MNT_CF"
	for f in "${QFILES[@]}"; do
		QT["$at|$f"]=$(read_times "$MNT_CF/counters/$f")
	done
	log "$at: root counter.total = $(cat "$MNT_CF/counters/counter.total"), db $(du -h "$STORE/charmfs.db" | cut -f1)"
	stop_fs "$MNT_CF"
}

bench_query() {
	local lib=$BUILD/.libs/libcharmfs.a libs f a b
	[ -f "$lib" ] || die "no $lib: make -C $BUILD libcharmfs.la"
	libs=$(sed -n -E 's/^(SQLITE|LIBARCHIVE|CRYPTO|YAML|JANSSON|MHD)_LIBS = //p' "$BUILD/Makefile" | tr '\n' ' ')
	# shellcheck disable=SC2086
	gcc -O2 -g -Wall -I"$BUILD" -I"$HERE/../../backend" -o "$OUT/counters_load" \
		"$HERE/counters_load.c" "$lib" $libs -lpthread
	STORE=$OUT/store-load
	rm -rf "$STORE"
	log "loading 100,000 increments"
	"$OUT/counters_load" "$STORE" 0 100000
	measure_queries 100k
	log "loading 900,000 more"
	"$OUT/counters_load" "$STORE" 100000 900000
	measure_queries 1M

	echo
	echo "### counters/ reads, 10,000 keys x 365 days (ms; first = first cat after the mount,"
	echo "### cat = median of $Q_REPS cat processes, read = median of $Q_REPS in-process open+read)"
	echo
	echo "| file | bytes | 100k first | 100k cat | 100k read | 1M first | 1M cat | 1M read | read 1M/100k |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for f in "${QFILES[@]}"; do
		read -r -a a <<<"${QT["100k|$f"]}"
		read -r -a b <<<"${QT["1M|$f"]}"
		[ "${a[0]}" = "${b[0]}" ] || b[0]="${a[0]} / ${b[0]}"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n' "$f" "${b[0]}" \
			"${a[1]}" "${a[2]}" "${a[3]}" "${b[1]}" "${b[2]}" "${b[3]}" \
			"$(awk -v x="${b[3]}" -v y="${a[3]}" 'BEGIN{print x/y}')"
	done
}

echo "## counters ($(date -u +%F), $(nproc) CPUs, $CHARMFS)"
case $MODE in
all) bench_inc; bench_query ;;
inc) bench_inc ;;
query) bench_query ;;
*) die "usage: $0 [all|inc|query]" ;;
esac
