#!/bin/bash
# Warm small-file reads without process starts (issue 15): openread.c
# opens, reads and closes one quarter of run.sh's small files (out/lists/
# small.0, 2,500 files) in one process, PASSES (21) times over charmfs,
# passthrough_ll and squashfuse in turn, and prints the median time per
# file of each; COLD=1 drops the kernel's caches before each pass (then
# PASSES=9 is plenty). CHARMFS2=BINARY adds a second charmfs (for instance an
# older build) over a copy of the store. Needs setup.sh and one run.sh (for
# out/lists/). Always unmounts. Nothing asserts on time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trap 'stop_all' EXIT
trap 'exit 130' INT TERM
[ -d "$STORE" ] && [ -d "$REF/charms" ] && [ -f "$IMG" ] || die "run setup.sh first"
[ -f "$OUT/lists/small.0" ] || die "run run.sh once first (it writes out/lists/)"
"$BENCH/build-refs.sh" >/dev/null
gcc -O2 -Wall -o "$BENCH/bin/openread" "$BENCH/openread.c"

dirs=()
if [ -n "${CHARMFS2:-}" ]; then
	# A copy taken before anything is mounted: one daemon per store.
	rm -rf "$OUT/store2"
	cp -a "$STORE" "$OUT/store2"
fi
start_fs charmfs "$MNT_CF"
dirs+=("$MNT_CF")
if [ -n "${CHARMFS2:-}" ]; then
	CHARMFS=$CHARMFS2 STORE=$OUT/store2 start_fs charmfs "$OUT/mnt/charmfs2"
	dirs+=("$OUT/mnt/charmfs2")
fi
start_fs pt "$MNT_PT"
start_fs sq "$MNT_SQ"
dirs+=("$MNT_PT" "$MNT_SQ")
"$BENCH/bin/openread" "$OUT/lists/small.0" "${dirs[@]}"
