#!/bin/bash
# Order-balanced A/B of the publish cost (issues 12 and 15, see README.md,
# "Publishing (issues 12 and 15)"):
#
#   tests/bench/pubab.sh NAME=CHARMFS_BINARY [NAME=CHARMFS_BINARY...]
#
# Each round runs every build once, and the plain-copy reference (libfuse's
# passthrough_ll with PT_OPTS, default cache=always, over an empty
# directory) once, each on a fresh store (or directory) of its own: one `cp`
# of N (1000) distinct ~20 KiB charms into publish/xenial/ (the page cache
# dropped before), timed to its return. Round r starts with the r-th entry
# of the list (builds then the reference), so that no build always runs
# first or right after another. No store is deleted during a run: deleting
# one makes ext4 (no journal) skip its recently freed inodes in the next
# run's allocations, which would bias whichever run comes next.
#
# Per run it records the cp time, the daemon's CPU time (user + system,
# over its whole life: the tree extractions after the publishes included)
# and its largest RSS.
# Prints one line per run and, per build, the median, min and max of the
# cp time per charm, the ratio to the plain copy's median, and the median
# CPU. Environment: ROUNDS (5), N (1000), PAD (19580 bytes of random data
# per charm), CF_OPTS (extra -o for every charmfs), PT_OPTS, OUT.
# Runs as root (it drops the page cache and mounts). Not part of make check.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
N=${N:-1000}
PAD=${PAD:-19580}
PT_OPTS=${PT_OPTS-cache=always}
AB=$OUT/ab

[ $# -ge 1 ] || die "usage: $0 NAME=CHARMFS_BINARY [NAME=CHARMFS_BINARY...]"
declare -a NAMES=()
declare -A BIN=()
for a in "$@"; do
	[[ $a == *=* ]] || die "not NAME=BINARY: $a"
	NAMES+=("${a%%=*}")
	BIN[${a%%=*}]=${a#*=}
	[ -x "${a#*=}" ] || die "no charmfs binary at ${a#*=}"
done
NAMES+=(copy)
"$BENCH/build-refs.sh" >/dev/null

MNT=$AB/mnt
CPU=$AB/cpu
declare -a TIME_PID=()
cleanup() {
	fusermount3 -u "$MNT" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ext4 without a journal checks every free inode it considers against its
# deletion time, and skips those freed in the last 30 s (recently_deleted()):
# runs right after a deletion of many files pay for that scan. So the files
# of an earlier run go first, and the runs start 31 s after the deletion.
deleted=0
if [ -d "$AB" ]; then
	rm -rf "$AB"
	deleted=$(date +%s)
fi
mkdir -p "$AB/src" "$MNT"
python3 "$BENCH/gencharms.py" set "$AB/src" "$N" --prefix p --salt "ab$(date +%s%N)" --pad "$PAD"
while [ $(($(date +%s) - deleted)) -le 31 ]; do sleep 1; done
log "$N charms of $(stat -c %s "$AB/src/p00000.charm") bytes; rounds: $ROUNDS; order rotates over: ${NAMES[*]}"

# run NAME ROUND: one measurement; prints "NAME ROUND CP_NS CPU_MS MAXRSS_KIB".
run() {
	local name=$1 round=$2 dest t0 t1 pid i
	local dir=$AB/$name-$round
	mkdir -p "$dir"
	if [ "$name" = copy ]; then
		/usr/bin/time -o "$CPU" -f '%U %S %M' "$PT" -f -o "source=$dir${PT_OPTS:+,$PT_OPTS}" \
			"$MNT" 2>>"$AB/pt.log" &
		dest=$MNT
	else
		/usr/bin/time -o "$CPU" -f '%U %S %M' "${BIN[$name]}" -f ${CF_OPTS:+-o "$CF_OPTS"} \
			"$dir" "$MNT" 2>>"$AB/$name.log" &
		dest=$MNT/publish/xenial
	fi
	pid=$!
	for i in $(seq 1 800); do
		mountpoint -q "$MNT" && ls "$MNT" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || die "$name exited (see $AB/*.log)"
		sleep 0.025
	done
	mountpoint -q "$MNT" || die "$name did not mount"
	drop_caches
	t0=$(now_ns)
	(cd "$AB/src" && cp -- *.charm "$dest") || log "warning: cp into $name failed"
	t1=$(now_ns)
	fusermount3 -u "$MNT"
	wait "$pid" || true
	if [ "$name" != copy ]; then
		local n
		n=$(sqlite3 "$dir/charmfs.db" "SELECT count(*) FROM revisions" 2>/dev/null || echo '?')
		[ "$n" = "$N" ] || log "warning: $name stored $n revisions, not $N"
	fi
	echo "$name $round $((t1 - t0)) $(awk '{printf "%d %d", ($1 + $2) * 1000, $3}' "$CPU")"
}

RESULTS=$AB/results
: >"$RESULTS"
k=${#NAMES[@]}
for round in $(seq 1 "$ROUNDS"); do
	for j in $(seq 0 $((k - 1))); do
		name=${NAMES[(round - 1 + j) % k]}
		line=$(run "$name" "$round")
		log "$line"
		echo "$line" >>"$RESULTS"
	done
done

stats() { # NAME FIELD: "median min max" of a field of the results
	awk -v n="$1" -v f="$2" '$1 == n {print $f}' "$RESULTS" | sort -n |
		awk '{v[NR]=$1} END{m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.0f %.0f %.0f\n", m, v[1], v[NR]}'
}
read -r copy_med _ _ < <(stats copy 3)
echo
echo "publish A/B, $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds, $N charms of $(stat -c %s "$AB/src/p00000.charm") bytes"
echo
echo "| build | cp per charm, median (min-max) | / plain copy | daemon CPU per charm, median | daemon max RSS, median |"
echo "|---|---|---:|---:|---:|"
for name in "${NAMES[@]}"; do
	read -r med lo hi < <(stats "$name" 3)
	read -r cpu _ _ < <(stats "$name" 4)
	read -r rss _ _ < <(stats "$name" 5)
	awk -v n="$name" -v m="$med" -v l="$lo" -v h="$hi" -v c="$copy_med" -v u="$cpu" -v N="$N" -v k="$rss" \
		'BEGIN{printf "| %s | %.0f us (%.0f-%.0f) | %.2f | %.0f us | %.1f MiB |\n", n, m/N/1000, l/N/1000, h/N/1000, m/c, u*1000/N, k/1024}'
done
# The stores stay (each ~60 MB) until the next run, which deletes them first.
