#!/bin/bash
# backup/: a copy is a complete, consistent STOREDIR taken at one moment,
# while the original keeps serving writes (SPEC §4.10).
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
B=$MNT/backup

# gen N: a small distinct charm archive named cN.
gen() {
	local d=$T/src/c$1
	mkdir -p "$d/hooks"
	printf 'name: c%s\nsummary: s\ndescription: d\n' "$1" > "$d/metadata.yaml"
	printf '#!/bin/sh\necho %s\n' "$1" > "$d/hooks/install"
	chmod +x "$d/hooks/install"
	(cd "$d" && zip -qr "$T/c$1.charm" .)
}
for i in $(seq 1 205); do gen "$i"; done

# sha N: the digest of the stored archive of charm cN (once published).
sha() {
	cat "$MNT/charms/trusty/c$1/0/sha256"
}
# has COPY N: the copy's blobs hold charm cN's archive.
has() {
	test -e "$1/blobs/$(sha "$2").charm"
}
lacks() {
	local d
	d=$(sha "$2") && test -n "$d" -a ! -e "$1/blobs/$d.charm"
}
now_ms() {
	date +%s%3N
}
# wait_past MS: waits (bounded) until the clock is past MS. Waiting out a
# snapshot's linger is inherent; nothing here waits for the daemon.
wait_past() {
	local i
	for i in $(seq 1 400); do
		[ "$(now_ms)" -gt "$1" ] && return 0
		sleep 0.025
	done
	return 1
}
# A margin past the 2 s linger (SPEC §4.10) for the clock readings.
LINGER=2200

# Some state of every kind before the copy.
cp "$T/c1.charm" "$MNT/publish/trusty/c1.charm"
mkdir -p "$MNT/counters/k" && echo 7 > "$MNT/counters/k/counter.inc"
mkdir "$MNT/locks/trusty/held"
downloads_before=$(cat "$MNT/counters/charm-bundle/trusty/c1/counter.value" 2>/dev/null || echo 0)

# Publish 200 charms in a loop while copying backup/.
(
	for i in $(seq 2 200); do
		cp "$T/c$i.charm" "$MNT/publish/trusty/c$i.charm" || exit 1
		echo "$i" >> "$T/published"
	done
) &
PUB=$!
# Let the publisher get going before the copy starts.
for n in $(seq 1 400); do
	[ -s "$T/published" ] && [ "$(wc -l < "$T/published")" -ge 20 ] && break
	sleep 0.025
done
# cp -a alone: its first lookup takes the snapshot, its open files keep it.
check "cp -a of backup/" cp -a "$B" "$T/copy"
# From here a file of backup/ is held open: rsync, tar and the checks below
# see one snapshot however long the publisher takes.
exec 4<"$B/charmfs.db"
check "rsync -a of backup/" rsync -a "$B/" "$T/copy2/"
wait "$PUB"
check "publisher finished" test "$(wc -l < "$T/published")" = 199
check "the held snapshot outlives the publishes" cmp "$B/charmfs.db" "$T/copy2/charmfs.db"
check "tar of backup/" tar -C "$MNT" -cf "$T/copy.tar" backup
expect_eq "reads through backup/ count nothing" "$downloads_before" \
	"$(cat "$MNT/counters/charm-bundle/trusty/c1/counter.value" 2>/dev/null || echo 0)"

# (b) A publish that returns while the handle is held is not in the held
# snapshot, not even more than the linger later.
cp "$T/c201.charm" "$MNT/publish/trusty/c201.charm"
t=$(now_ms)
check "c201 is published" test -d "$MNT/charms/trusty/c201/0"
check "clock past the linger" wait_past $((t + LINGER))
check "the held snapshot lists no c201" test -z "$(ls "$B/blobs" | grep "$(sha 201)")"
check "cp -a through the held snapshot" cp -a "$B" "$T/copy3"
check "the held snapshot stayed the same" cmp "$T/copy2/charmfs.db" "$T/copy3/charmfs.db"
check "the held copy has no c201" lacks "$T/copy3" 201
exec 4<&-
t=$(now_ms)

# (a) A copy started more than the linger after the last close sees every
# publish that returned before it; one started within it sees the old one.
cp "$T/c202.charm" "$MNT/publish/trusty/c202.charm"
check "clock past the linger of the held snapshot" wait_past $((t + LINGER))
check "cp -a after the linger" cp -a "$B" "$T/copyA1"
t=$(now_ms)
check "copyA1 has c201" has "$T/copyA1" 201
check "copyA1 has c202" has "$T/copyA1" 202
cp "$T/c203.charm" "$MNT/publish/trusty/c203.charm"
check "copyA1 lacks c203" lacks "$T/copyA1" 203
check "clock past the linger of copyA1" wait_past $((t + LINGER))
check "cp -a after copyA1's linger" cp -a "$B" "$T/copyA2"
check "copyA2 has c203" has "$T/copyA2" 203

# (c) Stats and lookups alone do not keep a snapshot: after 3 s of them,
# a copy sees a publish that returned after the first.
check "stat of backup/" stat "$B/charmfs.db" >/dev/null
cp "$T/c204.charm" "$MNT/publish/trusty/c204.charm"
end=$(($(now_ms) + 3000))
while [ "$(now_ms)" -lt "$end" ]; do
	stat "$B/charmfs.db" >/dev/null || { fail "stat in the loop"; break; }
	ls "$B" >/dev/null
done
check "cp -a after 3 s of stats" cp -a "$B" "$T/copyC"
check "copyC has c204" has "$T/copyC" 204
t=$(now_ms)

# (d) An open directory under backup/ keeps the snapshot as an open file does:
# a publish that returns while it is open is not there, even past the linger;
# once it is closed and the linger is over, a copy has it.
check "clock past the linger of copyC" wait_past $((t + LINGER))
expect_eq "an open directory of backup/ holds the snapshot" "without c205" "$(python3 - \
	"$B" "$T/c205.charm" "$MNT/publish/trusty/c205.charm" "$LINGER" <<'PY'
import os, shutil, sys, time
b, src, dst, linger = sys.argv[1:]
fd = os.open(os.path.join(b, "blobs"), os.O_RDONLY | os.O_DIRECTORY)
before = set(os.listdir(os.path.join(b, "blobs")))
shutil.copyfile(src, dst)
time.sleep(int(linger) / 1000)  # waiting out the linger is the point
after = set(os.listdir(os.path.join(b, "blobs")))
os.close(fd)
print("without c205" if after == before else "new blobs: %s" % (after - before))
PY
)"
t=$(now_ms)
check "clock past the linger of the directory" wait_past $((t + LINGER))
check "cp -a after the directory closed" cp -a "$B" "$T/copyD"
check "copyD has c205" has "$T/copyD" 205
stop_daemon

# The copies mount with the charms they were taken with.
for c in copy3:1:201 copyA1:202:203 copyA2:203: copyC:204:; do
	IFS=: read -r dir with without <<<"$c"
	STORE=$T/$dir
	start_daemon
	check "$dir mounts with c$with" test -d "$MNT/charms/trusty/c$with/0"
	[ -z "$without" ] || check "$dir mounts without c$without" test ! -e "$MNT/charms/trusty/c$without"
	stop_daemon
done

# The copy is a STOREDIR: it passes --check and mounts.
check "--check of the copy" "$CHARMFS" --check "$T/copy"
STORE=$T/copy
start_daemon
n=$(ls "$MNT/charms/trusty" | wc -l)
check "the copy holds some of the publishes" test "$n" -ge 20 -a "$n" -le 200
# A prefix of the sequence: c1..cN, nothing missing in between, each complete.
for i in $(seq 1 "$n"); do
	R=$MNT/charms/trusty/c$i/0
	if [ -d "$R" ] && [ "$(sha256sum < "$R/archive.charm" | cut -d' ' -f1)" = "$(cat "$R/sha256")" ] &&
		[ -x "$R/files/hooks/install" ]; then
		pass
	else
		fail "revision c$i in the copy is incomplete or missing"
	fi
done
expect_eq "events of the copy match its charms" "$n" "$(grep -c '"kind":"published"' "$MNT/events")"
expect_eq "counters in the copy" 7 "$(cat "$MNT/counters/k/counter.value")"
check "locks in the copy" test -d "$MNT/locks/trusty/held"
check "backup/ of the copy" test -e "$MNT/backup/charmfs.db"
expect_eq "backup/ is read-only" EACCES "$(errno_of "open('$MNT/backup/charmfs.db', 'w')")"
finish
