#!/bin/bash
# Persistence (SPEC §2, §4.2): a remount shows the same store, kill -9 right
# after a call returned loses nothing, a second daemon on the same STOREDIR
# is refused, and charmfs --check [--repair] verifies a store offline.
. "$SRCDIR/tests/mount/lib.sh"

# full_state: every path under charms/ and events with its type, link
# target and mode, and the checksum of every file's content.
full_state() {
	(
		cd "$MNT" || exit 1
		find charms events -printf '%p %y %l %m\n' | LC_ALL=C sort
		find charms events -type f -exec md5sum {} + | LC_ALL=C sort -k2
	)
}

# time_state: the mtimes SPEC §4 defines (publish time of a revision and of
# latest, event time of an events file).
time_state() {
	(
		cd "$MNT" || exit 1
		find charms events \( -name events -o -name latest -o -path '*/[0-9]*' \) -printf '%p %T@\n' | LC_ALL=C sort
	)
}

# wp_edition N: makes $T/wpN.charm, wordpress with a README edited N times.
wp_edition() {
	copy_charm wordpress "$T/wp$1"
	echo "edition $1" >>"$T/wp$1/README.md"
	make_charm wordpress "$T/wp$1.charm" "$T/wp$1"
}
for i in 0 1 2 3 4 5 6; do wp_edition $i; done
make_charm mysql "$T/mysql.charm"
make_charm logrotate "$T/logrotate.charm"

start_daemon
check "publish 0" cp "$T/wp0.charm" "$MNT/publish/trusty/wordpress.charm"
check "publish 1" cp "$T/wp1.charm" "$MNT/publish/trusty/wordpress.charm"
check "publish mysql under ~bob" cp "$T/mysql.charm" "$MNT/publish/~bob/precise/mysql.charm"
cp "$T/logrotate.charm" "$MNT/publish/incoming/lr.charm"
expect_eq "multi-URL publish" "ok 0" "$(exec 3<>"$MNT/publish/ctl" && echo "publish lr-1 cs:trusty/logrotate cs:precise/logrotate < incoming/lr.charm" >&3 && cat <&3)"
head -c 100 /dev/urandom >"$T/bad.charm"
cp "$T/bad.charm" "$MNT/publish/trusty/wordpress.charm" 2>/dev/null
check "rmdir a revision" rmdir "$MNT/charms/trusty/wordpress/0"

# --- remount ----------------------------------------------------------------------------
before=$(full_state)
times=$(time_state)
stop_daemon
check "the daemon exited on unmount" test -z "$DAEMON_PID"
check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
check "--check passes on the good store" "$CHARMFS" --check "$STORE"
start_daemon
expect_eq "everything the same after a remount" "$before" "$(full_state)"
expect_eq "timestamps the same after a remount" "$times" "$(time_state)"
check "publish/ starts without the old files" test ! -e "$MNT/publish/trusty/wordpress.charm"
check "incoming/ starts without the old files" test ! -e "$MNT/publish/incoming/lr.charm"
check "publish after a remount" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "numbering continues" "2" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

# --- a store from before rev_files: files/, metadata.yaml and config.yaml come from the trees
before=$(full_state)
stop_daemon
check "drop the files/ rows" sqlite3 "$STORE/charmfs.db" "DELETE FROM rev_files"
start_daemon
expect_eq "the same tree without files/ rows" "$before" "$(full_state)"
check "metadata.yaml read from the tree" cmp -s "$T/wp2/metadata.yaml" "$MNT/charms/trusty/wordpress/2/metadata.yaml"
check "config.yaml read from the tree" cmp -s "$T/wp2/config.yaml" "$MNT/charms/trusty/wordpress/2/config.yaml"
check "a publish stores them again" cp "$T/logrotate.charm" "$MNT/publish/xenial/logrotate.charm"
expect_eq "one revision with files/ rows" "1" "$(sqlite3 "$STORE/charmfs.db" "SELECT count(DISTINCT rev_id) FROM rev_files")"
check "metadata.yaml read from the database" cmp -s "$SRCDIR/tests/data/charms/logrotate/metadata.yaml" "$MNT/charms/xenial/logrotate/0/metadata.yaml"

# --- a second daemon on the same STOREDIR ----------------------------------------------
mkdir -p "$T/mnt2"
timeout 30 "$CHARMFS" -f "$STORE" "$T/mnt2" >"$T/second.out" 2>&1
rc=$?
check "a second daemon exits non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "with a clear message naming the store" grep -qE "$STORE.*(in use|another|already|running|locked)|(in use|another|already|running|locked).*$STORE" "$T/second.out"
check "the second mount point is not mounted" sh -c "! mountpoint -q '$T/mnt2'"
check "the first daemon still serves" test -d "$MNT/charms/trusty/wordpress/2"
timeout 30 "$CHARMFS" "$STORE" "$T/mnt2" >"$T/second.out" 2>&1
rc=$?
check "a second daemon without -f exits non-zero too" test "$rc" -ne 0 -a "$rc" -ne 124
check "and is not mounted" sh -c "! mountpoint -q '$T/mnt2'"
fusermount3 -u "$T/mnt2" 2>/dev/null

# --- kill -9 right after the call returned -----------------------------------------------
cp "$T/wp3.charm" "$MNT/publish/trusty/wordpress.charm" && kill_daemon
start_daemon
check "kill -9 after cp: revision 3 is there" test -d "$MNT/charms/trusty/wordpress/3"
expect_eq "kill -9 after cp: latest" "3" "$(readlink "$MNT/charms/trusty/wordpress/latest")"
expect_eq "kill -9 after cp: archive intact" "$(cat "$MNT/charms/trusty/wordpress/3/sha256")" "$(sha256sum <"$MNT/charms/trusty/wordpress/3/archive.charm" | cut -d' ' -f1)"
check "kill -9 after cp: files/ intact" cmp -s "$T/wp3/README.md" "$MNT/charms/trusty/wordpress/3/files/README.md"
check "kill -9 after cp: the event is there" grep -q '"revision":3' "$MNT/events"

cp "$T/mysql.charm" "$MNT/publish/incoming/my.charm"
r=$(exec 3<>"$MNT/publish/ctl" && echo "publish my-2 cs:trusty/mysql cs:~bob/precise/mysql < incoming/my.charm" >&3 && cat <&3) && kill_daemon
expect_eq "ctl publish reply" "ok 1" "$r"
start_daemon
expect_eq "kill -9 after ctl: trusty/mysql" "1" "$(readlink "$MNT/charms/trusty/mysql/latest")"
expect_eq "kill -9 after ctl: ~bob/precise/mysql" "1" "$(readlink "$MNT/charms/~bob/precise/mysql/latest")"
expect_eq "kill -9 after ctl: digest" "my-2" "$(cat "$MNT/charms/~bob/precise/mysql/1/digest")"

rmdir "$MNT/charms/trusty/wordpress/3" && kill_daemon
start_daemon
check "kill -9 after rmdir: still deleted" test ! -e "$MNT/charms/trusty/wordpress/3"
expect_eq "kill -9 after rmdir: latest" "2" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

# Several publishes back to back, then kill -9.
ok=1
for i in 4 5 6; do cp "$T/wp$i.charm" "$MNT/publish/precise/wordpress.charm" || ok=0; done
[ $ok = 1 ] && kill_daemon
check "three publishes returned" test $ok = 1
start_daemon
expect_eq "kill -9 after three publishes" "0 1 2 events latest" "$(ls "$MNT/charms/precise/wordpress" | xargs)"
# Whatever the number, a redundant publish after the crash is still redundant.
expect_errno "redundant after kill -9" "File exists" cp "$T/wp6.charm" "$MNT/publish/precise/wordpress.charm"

before=$(full_state)
stop_daemon
check "--check passes after kill -9s" "$CHARMFS" --check "$STORE"
start_daemon
expect_eq "--check changed nothing" "$before" "$(full_state)"
stop_daemon

# --- --check finds problems, --repair ----------------------------------------------------
check "blobs/ holds archives" test -n "$(ls "$STORE/blobs")"
BLOB=$(ls "$STORE/blobs" | head -n1)
cp "$STORE/blobs/$BLOB" "$T/blob.bak"
printf 'x' >>"$STORE/blobs/$BLOB"
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
rc=$?
check "--check fails on a corrupted blob" test "$rc" -ne 0
check "--check names the corrupted archive" grep -q "${BLOB%.charm}" "$T/check.out"
check "--check left the blob as it was" sh -c "{ cat '$T/blob.bak'; printf x; } | cmp -s - '$STORE/blobs/$BLOB'"
"$CHARMFS" --check --repair "$STORE" >"$T/repair.out" 2>&1
rc=$?
# A corrupted archive has no second copy: --repair cannot fix it and must
# keep saying so.
check "--repair of a corrupted blob still exits non-zero" test "$rc" -ne 0
check "--repair names it" grep -q "${BLOB%.charm}" "$T/repair.out"
cp "$T/blob.bak" "$STORE/blobs/$BLOB"
check "--check passes once the blob is restored" "$CHARMFS" --check "$STORE"

rm "$STORE/blobs/$BLOB"
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
check "--check fails on a missing blob" test $? -ne 0
check "--check names the missing archive" grep -q "${BLOB%.charm}" "$T/check.out"
cp "$T/blob.bak" "$STORE/blobs/$BLOB"

# Leftovers of interrupted work are reported, not problems; --repair removes them.
LEFT=$(printf '%064d' 0)
printf 'junk' >"$STORE/blobs/$LEFT.charm"
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
check "a leftover blob is not a problem" test $? -eq 0
check "but it is reported" grep -q "$LEFT" "$T/check.out"
check "--check did not remove it" test -e "$STORE/blobs/$LEFT.charm"
check "--repair succeeds" "$CHARMFS" --check --repair "$STORE"
check "--repair removed the leftover" test ! -e "$STORE/blobs/$LEFT.charm"
check "--check passes after --repair" "$CHARMFS" --check "$STORE"

"$CHARMFS" --check "$T/no-such-store" >/dev/null 2>&1
check "--check of a missing STOREDIR fails" test $? -ne 0
check "and does not create it" test ! -e "$T/no-such-store"

start_daemon
expect_eq "the store is whole after --check and --repair" "$before" "$(full_state)"
check "publish/trusty lists empty after a remount" test -z "$(ls -A "$MNT/publish/trusty")"
check "daemon still running" daemon_alive

# SIGTERM shuts down cleanly: exit status 0, unmounted, nothing lost.
cp "$T/wp1.charm" "$MNT/publish/trusty/wordpress.charm" 2>/dev/null || true
state=$(full_state)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
expect_eq "SIGTERM exit status" 0 "$?"
DAEMON_PID=
check "SIGTERM unmounts" sh -c "! mountpoint -q '$MNT'"
check "--check after SIGTERM" "$CHARMFS" --check "$STORE"
start_daemon
expect_eq "nothing lost over SIGTERM" "$state" "$(full_state)"
finish
