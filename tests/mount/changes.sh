#!/bin/bash
# changes/ (SPEC §4.8) through the mount, with the test task kind of
# -o test_tasks (backend/enginetest.h): a failing change and its undo,
# settle (blocking, timed out, interrupted), abort, a kill -9 while a task
# runs and the remount that runs it again, listing order and ids, tail -f
# of a task log, sizes, times, modes and owners, a second user's access,
# every errno the tree gives, and the changes a publish, an rmdir and a
# refused publish leave.
. "$SRCDIR/tests/mount/lib.sh"

PY=/usr/bin/python3
if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null ||
	! [ -x "$PY" ]; then
	echo "SKIP: needs root, useradd, setpriv and $PY"
	exit 77
fi

U2=charmfs-u2
for _ in $(seq 1 100); do
	id "$U2" >/dev/null 2>&1 && break
	useradd -M -N -s /bin/sh "$U2" 2>/dev/null || sleep 0.1
done
id "$U2" >/dev/null 2>&1 || { echo "cannot create $U2" >&2; exit 1; }
chmod 0755 "$T"

# ctl FILE REQUEST: a transaction on FILE opened read-write (lib.sh's ctl_rw).
ctl() {
	ctl_rw "$@"
}

# wr FILE REQUEST: write-only, as a shell redirection does; prints OK or the errno name.
wr() {
	errno_of "fd = os.open('$1', os.O_WRONLY); os.write(fd, b'''$2\n''')"
}

# new_change STEPS: adds a test change, prints its id.
new_change() {
	local reply
	reply=$(ctl "$C/ctl" "test $1")
	case $reply in
	"ok "*) echo "${reply#ok }" ;;
	*) echo "test $1: $reply" >&2; return 1 ;;
	esac
}

# wait_content FILE TEXT: polls (at most 10 s) until FILE holds TEXT.
wait_content() {
	local i
	for i in $(seq 1 400); do
		[ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.025
	done
	echo "$1: [$(cat "$1" 2>&1)], expected [$2]" >&2
	return 1
}

# wait_count FILE TEXT N: polls (at most 10 s) until N lines of FILE hold TEXT.
wait_count() {
	local i
	for i in $(seq 1 400); do
		[ "$(grep -cF -- "$2" "$1" 2>/dev/null)" = "$3" ] && return 0
		sleep 0.025
	done
	echo "$1: $(grep -cF -- "$2" "$1" 2>&1) lines with [$2], expected $3" >&2
	return 1
}

# task ID N: the path of change ID's Nth task.
task() {
	local tid
	tid=$(ls -f "$C/$1/tasks" | grep -v '^\.' | sort -n | sed -n "$2p")
	echo "$C/$1/tasks/$tid"
}

owner() {
	stat -c '%U:%G %a' "$1"
}

# sizes_match DIR: every file's st_size under DIR equals what a read returns.
sizes_match() {
	local f ok=0
	for f in $(find "$1" -type f ! -name ctl); do
		if [ "$(stat -c %s "$f")" != "$(wc -c <"$f")" ]; then
			echo "$f: size $(stat -c %s "$f"), read $(wc -c <"$f")" >&2
			ok=1
		fi
	done
	return $ok
}

start_daemon -o allow_other,test_tasks
C=$MNT/changes
RFC='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# ---- an empty tree ---------------------------------------------------------------
expect_eq "changes/ lists only ctl on a new store" "ctl" "$(ls "$C")"
expect_eq "settle with nothing in progress" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "settle write-only" "OK" "$(wr "$C/ctl" settle)"

# ---- a change of three tasks whose second fails ----------------------------------
ID1=$(new_change "ok ; fail boom ; ok") || exit 1
expect_eq "the first change's id" "1" "$ID1"
expect_eq "settle returns ok once it is ready" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "failed change: status" "Error" "$(cat "$C/1/status")"
expect_eq "failed change: kind" "test" "$(cat "$C/1/kind")"
expect_eq "failed change: summary" "Test change of 3 tasks" "$(cat "$C/1/summary")"
T1=$(task 1 1) T2=$(task 1 2) T3=$(task 1 3)
expect_eq "first task undone" "Undone" "$(cat "$T1/status")"
expect_eq "failed task" "Error" "$(cat "$T2/status")"
expect_eq "third task held" "Hold" "$(cat "$T3/status")"
expect_eq "err names the failed task and its message" \
	"cannot perform the following tasks:
- test 2: fail boom (boom)" "$(cat "$C/1/err")"
check "the undo is in the first task's log" grep -Eq '^[0-9TZ:-]+ INFO undone$' "$T1/log"
check "the failure is an ERROR line" grep -Eq '^[0-9TZ:-]+ ERROR boom$' "$T2/log"
expect_eq "wait-for of the second task" "$(basename "$T1")" "$(cat "$T2/wait-for")"
expect_eq "wait-for of the first task is empty" "0" "$(stat -c %s "$T1/wait-for")"
expect_eq "task kind" "test" "$(cat "$T2/kind")"
expect_eq "task summary" "test 2: fail boom" "$(cat "$T2/summary")"
expect_eq "progress of a finished task" "1/1" "$(cat "$T1/progress")"
check "spawn-time is RFC 3339 UTC" grep -Eq "$RFC" "$C/1/spawn-time"
check "ready-time is RFC 3339 UTC" grep -Eq "$RFC" "$C/1/ready-time"
expect_eq "change dir mtime is its spawn time" "$(cat "$C/1/spawn-time")" \
	"$(date -u -d "@$(stat -c %Y "$C/1")" +%Y-%m-%dT%H:%M:%SZ)"
check "sizes equal what reads return" sizes_match "$C/1"
expect_eq "listing of a change" "ctl err kind ready-time spawn-time status summary tasks" \
	"$(ls "$C/1" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "listing of a task" "kind log progress status summary wait-for" \
	"$(ls "$T1" | tr '\n' ' ' | sed 's/ $//')"

# ---- modes and owners --------------------------------------------------------------
expect_eq "changes/ mode" "root:root 555" "$(owner "$C")"
expect_eq "changes/ctl mode" "root:root 666" "$(owner "$C/ctl")"
expect_eq "change dir mode" "root:root 555" "$(owner "$C/1")"
expect_eq "change ctl mode" "root:root 600" "$(owner "$C/1/ctl")"
expect_eq "change status mode" "root:root 444" "$(owner "$C/1/status")"
expect_eq "tasks/ mode" "root:root 555" "$(owner "$C/1/tasks")"
expect_eq "task dir mode" "root:root 555" "$(owner "$T1")"
expect_eq "task status mode" "root:root 444" "$(owner "$T1/status")"
expect_eq "task log mode" "root:root 400" "$(owner "$T1/log")"
expect_eq "ctl shows size 0" "0" "$(stat -c %s "$C/ctl")"

# ---- a second user -----------------------------------------------------------------
expect_eq "u2 reads a status" "Error" "$(run_as $U2 cat "$C/1/status")"
expect_eq "u2 reads err" "OK" "$(errno_as $U2 "open('$C/1/err').read()")"
expect_eq "u2 lists tasks" "3" "$(run_as $U2 ls "$C/1/tasks" | wc -l)"
expect_eq "u2 may not read a task log" "EACCES" "$(errno_as $U2 "open('$T1/log').read()")"
expect_eq "u2 may not write changes/ID/ctl" "EACCES" \
	"$(errno_as $U2 "fd = os.open('$C/1/ctl', os.O_WRONLY); os.write(fd, b'abort\n')")"
expect_eq "u2 settles (write-only)" "OK" \
	"$(errno_as $U2 "fd = os.open('$C/ctl', os.O_WRONLY); os.write(fd, b'settle\n')")"
expect_eq "u2 settles (reply)" "ok" "$(run_as $U2 "$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR); os.write(fd, b"settle\n"); print(os.read(fd, 100).decode().strip())
' "$C/ctl")"

# ---- a running change: settle timeout, interrupt, tail -f ----------------------------
ID2=$(new_change "wait $T/flag2 ; ok") || exit 1
expect_eq "the second change's id" "2" "$ID2"
T21=$(task 2 1)
check "the wait task runs" wait_content "$T21/status" Doing
check "its progress" wait_content "$T21/progress" "waiting 0/1"
expect_eq "a running change's status" "Doing" "$(cat "$C/2/status")"
expect_eq "ready-time of a running change is empty" "0" "$(stat -c %s "$C/2/ready-time")"
expect_eq "err of a running change is empty" "" "$(cat "$C/2/err")"
expect_eq "the waiting task is Do" "Do" "$(cat "$(task 2 2)/status")"
check "sizes of a running change" sizes_match "$C/2"
start=$(date +%s%N)
expect_eq "settle 1 runs out of time (write-only)" "ETIMEDOUT" "$(wr "$C/ctl" "settle 1")"
ms=$((($(date +%s%N) - start) / 1000000))
# The lower bound is the rule; the upper one only says it did not wait for the change
# (the errno says it timed out), with room for a loaded machine.
check "settle 1 waited at least a second ($ms ms)" test "$ms" -ge 950 -a "$ms" -lt 15000
expect_eq "settle 1 replies" "error timed out" "$(ctl "$C/ctl" "settle 1")"

# An interrupted settle: SIGINT to a writer blocked in write().
cat >"$T/intr.py" <<'EOF'
import ctypes, errno, os, signal, sys, time
signal.signal(signal.SIGINT, lambda *a: None)
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_WRONLY)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("ready\n")
t = time.monotonic()
n = libc.write(fd, b"settle\n", 7)
e = ctypes.get_errno()
dt = time.monotonic() - t
with open(sys.argv[2], "w") as f:
    f.write("%s %d\n" % ("OK" if n >= 0 else errno.errorcode.get(e, str(e)), int(dt * 1000)))
EOF
"$PY" "$T/intr.py" "$C/ctl" "$T/intr.out" &
IP=$!
# Should the interrupt be lost, the change completes after 20 s and the settle returns OK.
(sleep 20 && touch "$T/flag2") &
WD=$!
# Blocked in the write: the writer sleeps in FUSE's wait for the daemon's answer.
for _ in $(seq 1 400); do
	[ -e "$T/intr.out.tmp" ] && grep -q 'request_wait\|fuse' "/proc/$IP/wchan" 2>/dev/null && break
	sleep 0.025
done
check "the settle writer blocks in the mount" grep -q 'request_wait\|fuse' "/proc/$IP/wchan"
sent=$(date +%s%N)
kill -INT "$IP"
wait "$IP"
kill "$WD" 2>/dev/null
wait "$WD" 2>/dev/null
ms=$((($(date +%s%N) - sent) / 1000000))
read -r ierr _ <"$T/intr.out"
expect_eq "an interrupted settle fails with EINTR" "EINTR" "$ierr"
# EINTR is the rule; a lost interrupt would have waited for the 20 s flag.
check "the interrupt took effect before the change ended ($ms ms)" test "$ms" -lt 15000
check "the daemon still answers" test -f "$C/2/status"

# tail -f of a growing log.
timeout 10 tail -f "$T21/log" >"$T/tail.out" 2>&1 &
TP=$!
check "tail -f shows the log" wait_for_grep "$T/tail.out" "INFO waiting for $T/flag2"
touch "$T/flag2"
check "tail -f shows a line appended later" wait_for_grep "$T/tail.out" "INFO found $T/flag2"
kill "$TP" 2>/dev/null
wait "$TP" 2>/dev/null
expect_eq "settle after the file appeared" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "the change is done" "Done" "$(cat "$C/2/status")"
expect_eq "its tasks are done" "Done Done" "$(cat "$(task 2 1)/status" "$(task 2 2)/status" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "final progress" "waiting 1/1" "$(cat "$T21/progress")"
expect_eq "err of a done change is empty" "0" "$(stat -c %s "$C/2/err")"

# ---- abort ---------------------------------------------------------------------------
ID3=$(new_change "wait $T/never ; ok") || exit 1
T31=$(task "$ID3" 1)
check "the task to abort runs" wait_for_grep "$T31/log" "INFO waiting for $T/never"
expect_eq "it is Doing" "Doing" "$(cat "$T31/status")"
expect_eq "abort of a running change" "ok" "$(ctl "$C/$ID3/ctl" abort)"
expect_eq "settle after the abort" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "the aborted change is undone" "Undone" "$(cat "$C/$ID3/status")"
expect_eq "the stopped task was undone" "Undone" "$(cat "$T31/status")"
check "its undo ran" grep -q ' INFO undone$' "$T31/log"
expect_eq "the task behind it is held" "Hold" "$(cat "$(task "$ID3" 2)/status")"
expect_eq "abort of a ready change (write-only)" "EINVAL" "$(wr "$C/$ID3/ctl" abort)"
expect_eq "abort of a ready change (reply)" "error change $ID3 is ready: nothing to abort" \
	"$(ctl "$C/$ID3/ctl" abort)"

# ---- malformed requests and refused operations -----------------------------------------
expect_eq "unknown request" "EINVAL" "$(wr "$C/ctl" bogus)"
expect_eq "settle with a bad number" "EINVAL" "$(wr "$C/ctl" "settle x")"
expect_eq "settle with two numbers" "EINVAL" "$(wr "$C/ctl" "settle 1 2")"
expect_eq "malformed request replies error (read-write)" "EINVAL" \
	"$(errno_of "fd = os.open('$C/ctl', os.O_RDWR); os.write(fd, b'bogus\n')")"
expect_eq "an unknown test step" "EINVAL" "$(wr "$C/ctl" "test frob")"
expect_eq "a bad sleep" "EINVAL" "$(wr "$C/ctl" "test ok ; sleep x")"
expect_eq "a relative wait" "EINVAL" "$(wr "$C/ctl" "test wait x")"
expect_eq "an empty step" "EINVAL" "$(wr "$C/ctl" "test ok ;")"
expect_eq "a change ctl takes only abort" "EINVAL" "$(wr "$C/1/ctl" frob)"
n_before=$(ls "$C" | wc -l)
expect_eq "a bad test request adds nothing" "$n_before" "$(ls "$C" | wc -l)"
expect_eq "no such change" "ENOENT" "$(errno_of "open('$C/999/status')")"
expect_eq "a leading zero is no id" "ENOENT" "$(errno_of "os.stat('$C/01')")"
expect_eq "no such file in a change" "ENOENT" "$(errno_of "os.stat('$C/1/nothing')")"
expect_eq "no such task" "ENOENT" "$(errno_of "os.stat('$C/1/tasks/999')")"
expect_eq "a task of another change" "ENOENT" \
	"$(errno_of "os.stat('$C/2/tasks/$(basename "$T1")')")"
expect_eq "write to a status file" "EACCES" "$(errno_of "open('$C/1/status', 'w')")"
expect_eq "write to a task log" "EACCES" "$(errno_of "open('$T1/log', 'a')")"
expect_eq "touch a status file" "EACCES" "$(errno_of "os.utime('$C/1/status')")"
expect_eq "mkdir in changes/" "EACCES" "$(errno_of "os.mkdir('$C/9999')")"
expect_eq "rmdir of a change" "EACCES" "$(errno_of "os.rmdir('$C/1')")"
expect_eq "unlink of a file" "EACCES" "$(errno_of "os.unlink('$C/1/kind')")"
expect_eq "create in a task" "EACCES" "$(errno_of "open('$T1/new', 'w')")"
expect_eq "echo > ctl truncates nothing" "OK" "$(errno_of "open('$C/ctl', 'w').write('settle\n')")"

# ---- kill -9 while a task runs, then remount --------------------------------------------
ID4=$(new_change "wait $T/flag4 ; ok") || exit 1
T41=$(task "$ID4" 1)
check "the task runs before the crash" wait_for_grep "$T41/log" "INFO waiting for $T/flag4"
expect_eq "it is Doing" "Doing" "$(cat "$T41/status")"
kill_daemon
start_daemon -o allow_other,test_tasks
expect_eq "after the restart the task is Doing" "Doing" "$(cat "$T41/status")"
check "it runs again from the start" wait_count "$T41/log" "INFO waiting for $T/flag4" 2
touch "$T/flag4"
expect_eq "settle after the restart" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "the resumed change completes" "Done" "$(cat "$C/$ID4/status")"
expect_eq "the failed change survived the crash" "Error" "$(cat "$C/1/status")"

# ---- ids and listing order ---------------------------------------------------------------
ids="$ID4"
for _ in 1 2 3 4 5 6; do
	id=$(new_change ok) || exit 1
	check "ids ascend, never reused ($id after ${ids##* })" test "$id" -gt "${ids##* }"
	ids="$ids $id"
done
expect_eq "settle the batch" "ok" "$(ctl "$C/ctl" settle)"
expect_eq "readdir order: ctl, then ids ascending" "ctl $(seq -s ' ' 1 "${ids##* }")" \
	"$("$PY" -c 'import os, sys; print(" ".join(os.listdir(sys.argv[1])))' "$C")"
check "sizes everywhere" sizes_match "$C"

# ---- the store's own work: a publish and an rmdir leave ready changes --------------------
make_charm wordpress "$T/wp.charm"
last=$(ls "$C" | grep -v ctl | sort -n | tail -1)
check "cp publishes" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "settle after the publish" "ok" "$(ctl "$C/ctl" settle)"
P=$C/$(ls "$C" | grep -v ctl | sort -n | tail -1)
check "the publish made a new change" test "${P##*/}" -gt "$last"
expect_eq "its kind" "publish" "$(cat "$P/kind")"
expect_eq "it is Done" "Done" "$(cat "$P/status")"
check "it is ready" test -s "$P/ready-time"
expect_eq "its tasks" "validate store extract-tree" \
	"$(for t in $(ls "$P/tasks" | sort -n); do cat "$P/tasks/$t/kind"; done | xargs)"
expect_eq "every task Done" "Done Done Done" \
	"$(for t in $(ls "$P/tasks" | sort -n); do cat "$P/tasks/$t/status"; done | xargs)"
check "the summary names the revision" grep -q "cs:trusty/wordpress-0" "$P/tasks/$(ls "$P/tasks" | sort -n | head -1)/summary"
check "rmdir removes the charm" rmdir "$MNT/charms/trusty/wordpress/0"
D=$C/$(ls "$C" | grep -v ctl | sort -n | tail -1)
check "the rmdir made a new change" test "${D##*/}" -gt "${P##*/}"
expect_eq "its kind" "delete" "$(cat "$D/kind")"
expect_eq "it is Done" "Done" "$(cat "$D/status")"
check "its task names the revision" grep -q "cs:trusty/wordpress-0" "$D/tasks/$(ls "$D/tasks" | head -1)/summary"
printf 'not a zip' > "$T/bad.charm"
cp "$T/bad.charm" "$MNT/publish/trusty/broken.charm" 2>/dev/null
E=$C/$(ls "$C" | grep -v ctl | sort -n | tail -1)
check "a refused publish made a new change" test "${E##*/}" -gt "${D##*/}"
expect_eq "it is in Error" "Error" "$(cat "$E/status")"
check "its err says why" grep -q "cannot perform the following tasks" "$E/err"

# ---- without -o test_tasks --------------------------------------------------------------
LEFT=$(new_change "wait $T/never")
check "a test change left waiting" wait_content "$C/$LEFT/status" Doing
stop_daemon
start_daemon -o allow_other
expect_eq "test requests need -o test_tasks" "EINVAL" "$(wr "$C/ctl" "test ok")"
expect_eq "the changes are still there" "Done" "$(cat "$C/$ID4/status")"
# Nothing here runs the test kind now: settle does not wait for it, and it stays.
expect_eq "settle without test tasks" "ok" "$(ctl "$C/ctl" "settle 10")"
expect_eq "the change nobody runs stays as it was" "Doing" "$(cat "$C/$LEFT/status")"

finish
