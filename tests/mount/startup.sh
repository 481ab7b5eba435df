#!/bin/bash
# Start-up (SPEC §2, Start-up errors): a bad start reports on stderr with
# status 2 or 1 and creates nothing; the mount always has default_permissions,
# the store path as its source, and a raised open-file soft limit.
. "$(dirname "$0")/lib.sh"

# refused STATUS MESSAGE [charmfs arguments...]: the start fails with STATUS,
# stderr names MESSAGE, the store is not created and nothing is mounted, in
# the foreground (-f) and when going to the background alike.
refused() {
	local want=$1 msg=$2 rc mode
	shift 2
	for mode in -f background; do
		rc=0
		if [ "$mode" = -f ]; then
			"$CHARMFS" -f "$@" 2>"$T/err" || rc=$?
		else
			"$CHARMFS" "$@" 2>"$T/err" || rc=$?
		fi
		expect_eq "status of $mode $*" "$want" "$rc"
		check "stderr of $mode $* names '$msg': $(cat "$T/err")" grep -q -- "$msg" "$T/err"
		check "$mode $* creates no store" test ! -e "$STORE"
		check "$mode $* mounts nothing" sh -c "! mountpoint -q '$MNT'"
	done
}

# wait_exit PID: waits until the process PID (not a child of this shell) is gone.
wait_exit() {
	python3 -c 'import os, select, sys
try:
    fd = os.pidfd_open(int(sys.argv[1]))
except ProcessLookupError:
    sys.exit(0)
select.select([fd], [], [])' "$1"
}

# sha_state: the SHA-256 of the database and its write-ahead log (or "none").
sha_state() {
	local f
	for f in "$STORE/charmfs.db" "$STORE/charmfs.db-wal"; do
		if [ -e "$f" ]; then sha256sum <"$f"; else echo none; fi
	done
}

touch "$T/file"
refused 2 "unknown option" -o bogus_option "$STORE" "$MNT"
refused 2 "no such group" -o group=no-such-group-here "$STORE" "$MNT"
refused 1 "not a directory" "$STORE" "$T/file"
refused 1 "No such file" "$STORE" "$T/missing"
refused 1 "logfile" -o logfile="$T/no/such/dir/log" "$STORE" "$MNT"

# --- an HTTP address in use: refused before anything is created --------------------------
coproc HOLDER { python3 -c 'import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()'; }
read -r busy_port <&"${HOLDER[0]}"
refused 1 "Address already in use" -o http=127.0.0.1:"$busy_port" "$STORE" "$MNT"
exec {HOLDER[1]}>&-
wait "$HOLDER_PID"

# --- in the background: the parent returns once mounted; the lock names the daemon ------
rc=0
"$CHARMFS" -o logfile="$LOG" "$STORE" "$MNT" 2>"$T/bg.err" || rc=$?
expect_eq "background start succeeds" 0 "$rc"
check "background start says nothing: $(cat "$T/bg.err")" test ! -s "$T/bg.err"
check "mounted when the start returns" mountpoint -q "$MNT"
pid=$(cat "$STORE/charmfs.lock")
DAEMON_PID=$pid # so that an early exit still unmounts
check "the lock file names a live process ($pid)" kill -0 "$pid"
check "the lock file names the process serving the mount" \
	sh -c "ls -l /proc/$pid/fd | grep -q /dev/fuse"
mkdir -p "$T/mnt2"
rc=0
"$CHARMFS" -f "$STORE" "$T/mnt2" 2>"$T/second.err" || rc=$?
expect_eq "a second daemon is refused" 1 "$rc"
check "the refusal names the daemon's pid: $(cat "$T/second.err")" \
	grep -q "in use by another charmfs daemon (pid $pid)" "$T/second.err"
rc=0
"$CHARMFS" "$STORE" "$T/mnt2" 2>"$T/second.err" || rc=$?
expect_eq "a second daemon is refused in the background too" 1 "$rc"
check "... naming the daemon's pid: $(cat "$T/second.err")" \
	grep -q "(pid $pid)" "$T/second.err"
check "the second mount point is not mounted" sh -c "! mountpoint -q '$T/mnt2'"

# -o logfile: a failed change logs its line there.
make_charm wordpress "$T/wp.charm"
check "a publish" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
head -c 100 /dev/urandom >"$T/bad.charm"
check "a bad publish fails" sh -c "! cp '$T/bad.charm' '$MNT/publish/trusty/broken.charm' 2>/dev/null"
check "the log file has the failed publish: $(cat "$LOG")" \
	grep -q "publish /publish/trusty/broken.charm: Invalid argument" "$LOG"

# --check on a store a daemon serves is refused, and writes nothing.
before=$(sha_state)
rc=0
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1 || rc=$?
expect_eq "--check of a live store fails" 1 "$rc"
check "--check names the daemon: $(cat "$T/check.out")" \
	grep -q "in use by a charmfs daemon (pid $pid)" "$T/check.out"
expect_eq "--check of a live store leaves the database as it was" "$before" "$(sha_state)"
check "the daemon still serves" test -s "$MNT/charms/trusty/wordpress/0/archive.charm"

fusermount3 -u "$MNT"
wait_exit "$pid"
DAEMON_PID=
check "unmounted" sh -c "! mountpoint -q '$MNT'"
check "the daemon logged its stop" grep -q "unmounted" "$LOG"

# --check never migrates: an index the schema step would recreate stays missing.
check "drop an index" sqlite3 "$STORE/charmfs.db" "DROP INDEX events_off"
before=$(sha_state)
check "--check of an offline store" "$CHARMFS" --check "$STORE"
expect_eq "--check writes nothing" "$before" "$(sha_state)"
expect_eq "--check ran no schema step" 0 \
	"$(sqlite3 "$STORE/charmfs.db" "SELECT count(*) FROM sqlite_master WHERE name = 'events_off'")"

# While a --check holds the store (a shared lock on charmfs.lock), a daemon is refused.
rc=0
flock -s "$STORE/charmfs.lock" "$CHARMFS" -f "$STORE" "$MNT" 2>"$T/err" || rc=$?
expect_eq "a daemon beside a --check is refused" 1 "$rc"
check "... saying so: $(cat "$T/err")" grep -q "is being checked by charmfs --check" "$T/err"
check "... and mounts nothing" sh -c "! mountpoint -q '$MNT'"

# --- many open files: the daemon raises its soft limit ------------------------------------
low_nofile() {
	ulimit -Sn 1024
	exec "$@"
}
DAEMON_WRAPPER=low_nofile start_daemon
hard=$(awk '/^Max open files/ { print $5 }' /proc/$DAEMON_PID/limits)
soft=$(awk '/^Max open files/ { print $4 }' /proc/$DAEMON_PID/limits)
expect_eq "open-file soft limit raised to the hard limit" "$hard" "$soft"
if [ "$hard" != unlimited ] && [ "$hard" -lt 1200 ]; then
	echo "note: open-file hard limit $hard: skipping the 1100 open files check" >&2
else
	make_charm logrotate "$T/lr.charm"
	out=$(python3 - "$MNT" "$T/lr.charm" <<'PY'
import hashlib, resource, shutil, sys
mnt, lr = sys.argv[1], sys.argv[2]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
arch = mnt + "/charms/trusty/wordpress/0/archive.charm"
held = [open(arch, "rb") for _ in range(1100)]
shutil.copyfile(lr, mnt + "/publish/trusty/logrotate.charm")
rev = mnt + "/charms/trusty/logrotate/0/"
got = hashlib.sha256(open(rev + "archive.charm", "rb").read()).hexdigest()
want = open(rev + "sha256").read().strip()
first = held[0].read(2)
for f in held:
    f.close()
print("ok" if got == want and first == b"PK" else "mismatch")
PY
	)
	expect_eq "publish and read with 1100 archives held open" ok "$out"
fi
stop_daemon

start_daemon -o logfile="$T/charmfs.log"
expect_eq "mount source is the store" "$STORE" "$(findmnt -n -o SOURCE "$MNT")"
expect_eq "mount type" "fuse.charmfs" "$(findmnt -n -o FSTYPE "$MNT")"
check "default_permissions" sh -c "findmnt -n -o OPTIONS '$MNT' | grep -q default_permissions"
hard=$(awk '/^Max open files/ { print $5 }' /proc/$DAEMON_PID/limits)
soft=$(awk '/^Max open files/ { print $4 }' /proc/$DAEMON_PID/limits)
expect_eq "open-file soft limit raised to the hard limit" "$hard" "$soft"
check "logfile created" test -f "$T/charmfs.log"
finish
