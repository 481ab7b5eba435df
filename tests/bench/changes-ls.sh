#!/bin/bash
# changes/ reads (SPEC §4.8, issue 12): `ls changes/`, `ls -l changes/` and a
# `cat` of a ready and of an unready change's status, warm, with 500 ready
# changes (the most a daemon keeps) and 100 in progress, against the same
# commands on a plain-directory copy of changes/ (cp -a to $OUT, on the disk
# below). Target: under 20 ms each. Prints medians and the ratios; asserts
# nothing. Not part of `make check`.
#
# Environment: CHARMFS (default /tmp/bench-build/charmfs, a -O2 build without
# sanitizers), OUT (default tests/bench/out), REPS (21).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPS=${REPS:-21}
S=$OUT/changes-store
M=$OUT/mnt/changes
C=$M/changes
trap 'stop_all' EXIT
rm -rf "$S" "$OUT/changes-copy"
mkdir -p "$M"
LOGF[$M]=$OUT/changes.log
"$CHARMFS" -f -o test_tasks "$S" "$M" 2>>"${LOGF[$M]}" &
PID[$M]=$!
wait_mount "$M" "${PID[$M]}"

ctl() {
	python3 - "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for line in sys.argv[2].split("|"):
    os.write(fd, (line + "\n").encode())
    os.read(fd, 4096)
PY
}
log "adding 600 ready changes and 100 that wait"
ctl "$C/ctl" "$(for i in $(seq 600); do printf 'test ok|'; done)settle"
ctl "$C/ctl" "$(for i in $(seq 100); do printf 'test wait %s|' "$OUT/never"; done)test ok"
ready=$(ls "$C" | grep -v ctl | sort -n | head -n1)
busy=$(ls "$C" | grep -v ctl | sort -n | tail -n2 | head -n1)
log "$(ls "$C" | grep -vc ctl) changes listed; ready $ready, in progress $busy ($(cat "$C/$busy/status"))"
cp -a "$C" "$OUT/changes-copy" 2>/dev/null || true

# median_ms CMD...: the median wall time of REPS runs, in ms (after one warm-up).
median_ms() {
	local i t0 v=()
	"$@" >/dev/null
	for i in $(seq "$REPS"); do
		t0=$(now_ns)
		"$@" >/dev/null
		v+=($((($(now_ns) - t0) / 1000)))
	done
	printf '%s\n' "${v[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}
row() {
	local what=$1 cf ref
	shift
	cf=$(median_ms "$@")
	ref=$(median_ms "${@//$C/$OUT/changes-copy}")
	printf '| %s | %s ms | %s ms | %s |\n' "$what" "$cf" "$ref" \
		"$(awk -v a="$cf" -v b="$ref" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
}
echo "| warm, 500 ready + 100 in progress | charmfs | plain directory | charmfs / plain |"
echo "|---|---|---|---|"
row "ls changes/" ls "$C"
row "ls -l changes/" ls -l "$C"
row "cat a ready change's status" cat "$C/$ready/status"
row "cat an unready change's status" cat "$C/$busy/status"
touch "$OUT/never"
