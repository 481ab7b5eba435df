#!/bin/bash
# Diagnosis helper: counts the FUSE requests each benchmark workload sends to
# charmfs, passthrough_ll and squashfuse (all started with -d, which slows
# them down: the counts matter here, not the times). Needs setup.sh first.
# PT_OPTS=cache=always counts passthrough_ll with kernel caching on.
#
#   tests/bench/diag.sh            all workloads
#   tests/bench/diag.sh publish    only the publish workload (100 files)
#   tests/bench/diag.sh ls         only the ls -lR workload
#   tests/bench/diag.sh reads      only stat, the archive and the small files
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WHAT=${1:-all}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM
[ -d "$STORE" ] && [ -d "$REF/charms" ] || die "run setup.sh first"
[ -f "$OUT/lists/small.0" ] || die "run run.sh once first (it writes out/lists/)"

DCF=$OUT/mnt/diag-charmfs
DPT=$OUT/mnt/diag-pt
DSQ=$OUT/mnt/diag-sq
mkdir -p "$DCF" "$DPT" "$DSQ"
CF_OPTS=${CF_OPTS:+$CF_OPTS,}debug start_fs charmfs "$DCF"
PT_OPTS=${PT_OPTS:+$PT_OPTS,}debug start_fs pt "$DPT"
SQ_OPTS=${SQ_OPTS:+$SQ_OPTS,}debug start_fs sq "$DSQ"

# counts LOG OFFSET: opcode histogram of LOG from byte OFFSET.
counts() {
	tail -c +"$(($2 + 1))" "$1" | grep -a -o 'opcode: [A-Z_]*' | awk '{print $2}' |
		sort | uniq -c | sort -rn | awk '{printf "%s=%s ", $2, $1; t+=$1} END{printf "total=%d\n", t}'
}

# measure LABEL COMMAND...: cold (caches dropped) then warm twice (the first
# warm run still sees what the cold run left: a READ invalidates the atime,
# so the next fstat asks again), on the three mounts.
measure() {
	local label=$1 m kind off
	shift
	for m in "$DCF" "$DPT" "$DSQ"; do
		for kind in cold warm warm2; do
			[ "$kind" = cold ] && { drop_caches; sleep 0.3; }
			off=$(stat -c %s "${LOGF[$m]}")
			(cd "$m" && "$@") >/dev/null 2>&1 || true
			printf '%-30s %-5s %-9s %s\n' "$label" "$kind" "$(basename "$m" | sed 's/diag-//')" \
				"$(counts "${LOGF[$m]}" "$off")"
		done
	done
}

cat_list() { xargs -a "$1" cat; }
ls_list() { xargs -a "$1" ls -lR; }

if [ "$WHAT" = all ] || [ "$WHAT" = reads ]; then
	measure "stat x$(wc -l <"$OUT/lists/stat")" xargs -a "$OUT/lists/stat" stat -c %s
fi
if [ "$WHAT" = all ]; then
	# One chunk of run.sh's (a quarter), see bench_cw there for why.
	measure "ls -lR, 1/4 of charms/trusty" ls_list "$OUT/lists/ls.0"
fi
if [ "$WHAT" = ls ]; then
	measure "ls -lR, 1/4 of charms/trusty" ls_list "$OUT/lists/ls.0"
	exit 0
fi
if [ "$WHAT" = all ] || [ "$WHAT" = reads ]; then
	measure "cat archive.charm" cat charms/bionic/big/0/archive.charm
	measure "cat x$(wc -l <"$OUT/lists/small.0") small" cat_list "$OUT/lists/small.0"
	[ "$WHAT" = all ] || exit 0
fi
pub=$OUT/pub-diag
rm -rf "$pub"
python3 "$BENCH/gencharms.py" set "$pub" 100 --prefix d --salt "diag$(date +%s%N)" --pad 19580
off=$(stat -c %s "${LOGF[$DCF]}")
(cd "$pub" && cp -- *.charm "$DCF/publish/xenial/")
printf '%-30s %-5s %-9s %s\n' "cp 100x20KiB publish/" - charmfs "$(counts "${LOGF[$DCF]}" "$off")"
mkdir -p "$DPT/pubtest"
off=$(stat -c %s "${LOGF[$DPT]}")
(cd "$pub" && cp -- *.charm "$DPT/pubtest/")
printf '%-30s %-5s %-9s %s\n' "cp 100x20KiB plain dir" - pt "$(counts "${LOGF[$DPT]}" "$off")"
rm -rf "$DPT/pubtest" "$pub"
