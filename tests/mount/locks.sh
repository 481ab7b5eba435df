#!/bin/bash
# locks/: update locks as directories, locks/ctl transactions, expiry and
# take-over, and publishing against held locks (SPEC §4.5, §4.2).
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
L=$MNT/locks
make_charm wordpress "$T/wp.charm"

# ctl REQUEST: writes a request to locks/ctl and prints the reply.
ctl() {
	local reply
	exec 3<>"$L/ctl"
	printf '%s\n' "$1" >&3
	reply=$(cat <&3)
	exec 3>&-
	printf '%s\n' "$reply"
}

check "mkdir takes a lock" mkdir "$L/trusty/wordpress"
check "lock lists" test "$(ls "$L/trusty")" = wordpress
expect_errno "mkdir of a held lock" "File exists" mkdir "$L/trusty/wordpress"
expect_eq "mkdir of a held lock is EEXIST" EEXIST "$(errno_of "os.mkdir('$L/trusty/wordpress')")"
ID=$(cat "$L/trusty/wordpress/id")
expect_eq "id is a LOCKID" 32 "${#ID}"
check "holder names the taker" grep -q "command mkdir" "$L/trusty/wordpress/holder"
check "since and expires are times" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$L/trusty/wordpress/expires"
expect_eq "lock files are read-only" EACCES "$(errno_of "open('$L/trusty/wordpress/id', 'w')")"
expect_eq "invalid name" EINVAL "$(errno_of "os.mkdir('$L/trusty/Bad_Name')")"

# A held lock makes a publish fail with EBUSY and leaves no success event.
before=$(wc -l < "$MNT/events")
expect_errno "cp to a locked URL" "Device or resource busy" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "no event for a busy publish" "$before" "$(wc -l < "$MNT/events")"
check "nothing published" test ! -e "$MNT/charms/trusty/wordpress"
# ... unless the publish names the lock.
cp "$T/wp.charm" "$MNT/publish/incoming/wp.charm"
DIGEST=$(python3 -c "print('sha256:' + 'ab' * 32)")
expect_eq "publish/ctl with lock=" "ok 0" \
	"$(exec 3<>"$MNT/publish/ctl"; echo "publish $DIGEST cs:trusty/wordpress < incoming/wp.charm lock=$ID" >&3; cat <&3)"
check "named-lock publish stored" test -d "$MNT/charms/trusty/wordpress/0"
check "lock still held after it" test -d "$L/trusty/wordpress"

check "rmdir frees the lock" rmdir "$L/trusty/wordpress"
check "freed lock is gone" test ! -e "$L/trusty/wordpress"
check "mkdir again after rmdir" mkdir "$L/trusty/wordpress"
check "touch renews" touch "$L/trusty/wordpress"
rmdir "$L/trusty/wordpress"

# locks/ctl: all or none. These locks have the default 600 s life, so
# nothing below depends on how fast the test runs.
r=$(ctl "lock cs:trusty/a cs:trusty/b")
case $r in ok\ *) pass ;; *) fail "ctl lock two: $r" ;; esac
BOTH=${r#ok }
check "both locked" test -d "$L/trusty/a" -a -d "$L/trusty/b"
expect_eq "second lock of b refused" "error charm update in progress" "$(ctl "lock cs:trusty/c cs:trusty/b")"
check "c not locked (all or none)" test ! -e "$L/trusty/c"
expect_eq "malformed request" EINVAL "$(errno_of "os.write(os.open('$L/ctl', os.O_WRONLY), b'lock nonsense\n')")"
expect_errno "shell redirect of a busy request" "busy" bash -c "echo 'lock cs:trusty/b' > '$L/ctl'"
expect_eq "unlock both" "ok" "$(ctl "unlock $BOTH")"
check "both unlocked" test ! -e "$L/trusty/a" -a ! -e "$L/trusty/b"

# Expiry: a lock taken with lock_timeout=2 disappears and can be taken
# over. Locks live in the store, so the daemon that takes it over runs
# with the default timeout: the new lock outlives the checks that follow.
stop_daemon
start_daemon -o lock_timeout=2
r=$(ctl "lock cs:trusty/a")
case $r in ok\ *) pass ;; *) fail "ctl lock with lock_timeout=2: $r" ;; esac
OLD=${r#ok }
stop_daemon
start_daemon
for i in $(seq 1 400); do
	[ -e "$L/trusty/a" ] || break
	sleep 0.025
done
check "expired lock is gone" test ! -e "$L/trusty/a"
r=$(ctl "lock cs:trusty/a")
case $r in ok\ *) pass ;; *) fail "take-over: $r" ;; esac
NEW=${r#ok }
expect_eq "unlock of the old id is a no-op" "ok" "$(ctl "unlock $OLD")"
check "new lock survives the old unlock" test -d "$L/trusty/a"
expect_eq "new id" "$NEW" "$(cat "$L/trusty/a/id")"
expect_eq "unlock new" "ok" "$(ctl "unlock $NEW")"
check "unlocked" test ! -e "$L/trusty/a"
check "mkdir after ctl unlock" mkdir "$L/trusty/a"
finish
