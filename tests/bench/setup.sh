#!/bin/bash
# Prepares the benchmark data set (see lib.sh for the layout):
#   NCHARMS (1000) charms x NREVS (3) revisions published through a charmfs
#   mount with `cp` into publish/trusty/ (parallelism 2), plus cs:bionic/big
#   whose archive holds a 100 MiB incompressible file; then the same tree as
#   a plain directory (ref/, for passthrough_ll) and a squashfs image of it.
# Starts from an empty store every time. Always unmounts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BIG_BYTES=${BIG_BYTES:-$((100 * 1024 * 1024))}

trap 'stop_all' EXIT
trap 'exit 130' INT TERM

[ -x "$CHARMFS" ] || die "no charmfs binary at $CHARMFS (see README.md)"
"$BENCH/build-refs.sh" >/dev/null

mkdir -p "$OUT/mnt"
for m in "$MNT_CF" "$MNT_PT" "$MNT_SQ"; do
	mountpoint -q "$m" && die "$m is mounted; unmount it first"
done

t0=$(now_ns)
log "generating $NCHARMS charms x $NREVS revisions and the 100 MiB charm"
rm -rf "$GEN"
for r in $(seq 0 $((NREVS - 1))); do
	python3 "$BENCH/gencharms.py" set "$GEN/r$r" "$NCHARMS" --rev "$r" --salt setup &
done
python3 "$BENCH/gencharms.py" big "$GEN/big" big "$BIG_BYTES" &
wait
log "generated in $(( ($(now_ns) - t0) / 1000000 )) ms"

rm -rf "$STORE" "$REF" "$IMG"
start_fs charmfs "$MNT_CF"
for r in $(seq 0 $((NREVS - 1))); do
	t=$(now_ns)
	publish_dir "$GEN/r$r" "$MNT_CF/publish/trusty" 2
	ms=$(( ($(now_ns) - t) / 1000000 ))
	log "published revision set $r: $NCHARMS charms in $ms ms ($(( ms * 1000 / NCHARMS )) us/charm)"
done
t=$(now_ns)
cp "$GEN/big/big.charm" "$MNT_CF/publish/bionic/big.charm"
log "published cs:bionic/big (100 MiB) in $(( ($(now_ns) - t) / 1000000 )) ms"

n=$(ls "$MNT_CF/charms/trusty" | wc -l)
[ "$n" -eq "$NCHARMS" ] || die "expected $NCHARMS charms in charms/trusty, found $n"
latest=$(readlink "$MNT_CF/charms/trusty/c00000/latest")
[ "$latest" = $((NREVS - 1)) ] || die "c00000/latest -> $latest, expected $((NREVS - 1))"
read -r rss hwm < <(rss_of "${PID[$MNT_CF]}")
log "charmfs after setup publishes: VmRSS ${rss} kB, VmHWM ${hwm} kB"

t=$(now_ns)
mkdir -p "$REF/charms"
cp -a "$MNT_CF/charms/trusty" "$MNT_CF/charms/bionic" "$REF/charms/"
log "copied the tree to $REF in $(( ($(now_ns) - t) / 1000000 )) ms ($(du -sh "$REF" | cut -f1))"
stop_fs "$MNT_CF"

t=$(now_ns)
mksquashfs "$REF" "$IMG" -noappend -quiet >/dev/null
log "built $IMG in $(( ($(now_ns) - t) / 1000000 )) ms ($(du -h "$IMG" | cut -f1))"
log "setup done in $(( ($(now_ns) - t0) / 1000000000 )) s"
