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
for i in $(seq 1 200); do gen "$i"; done

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
# The first access takes the snapshot; it stays live for the whole copy.
check "cp -a of backup/" cp -a "$B" "$T/copy"
check "rsync -a of backup/" rsync -a "$B/" "$T/copy2/"
wait "$PUB"
check "publisher finished" test "$(wc -l < "$T/published")" = 199
check "the snapshot is still the one of the copy" cmp "$B/charmfs.db" "$T/copy/charmfs.db"
check "tar of backup/" tar -C "$MNT" -cf "$T/copy.tar" backup
expect_eq "reads through backup/ count nothing" "$downloads_before" \
	"$(cat "$MNT/counters/charm-bundle/trusty/c1/counter.value" 2>/dev/null || echo 0)"
check "one snapshot for cp and rsync" cmp "$T/copy/charmfs.db" "$T/copy2/charmfs.db"
stop_daemon

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
