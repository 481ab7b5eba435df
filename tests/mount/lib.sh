# Shared helpers for charmfs mount tests. Source it, then call start_daemon.
#
# Each test gets its own temporary directory with a store and a mount
# point; the daemon runs in the foreground in the background of the test
# shell, readiness is awaited by polling the mount (never a fixed sleep),
# and cleanup always unmounts. A test fails if the daemon's stderr holds a
# sanitizer report.

set -u

: "${CHARMFS:?CHARMFS must name the charmfs binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/charmfs-test.XXXXXX")
STORE=$T/store
MNT=$T/mnt
LOG=$T/daemon.log
DAEMON_PID=
FAILS=0
PASSES=0
mkdir -p "$MNT"

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

pass() {
	PASSES=$((PASSES + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@"; then pass; else fail "$what"; fi
}

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass
	else
		fail "$1: expected [$2], got [$3]"
	fi
}

# expect_errno DESCRIPTION "Message text" COMMAND...: the command must fail and
# its stderr must mention the strerror text (e.g. "File exists").
expect_errno() {
	local what=$1 msg=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: succeeded, expected \"$msg\""
	elif ! printf '%s' "$out" | grep -q -- "$msg"; then
		fail "$what: expected \"$msg\", got: $out"
	else
		pass
	fi
}

# errno_of PYTHON-CODE: runs Python statements (os imported) and prints the
# errno name of the first OSError they raise, or OK.
errno_of() {
	python3 - "$@" <<'PY'
import errno, os, sys
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}

sanitizer_report() {
	grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer" "$LOG" 2>/dev/null
}

wait_mounted() {
	local i
	for i in $(seq 1 400); do
		if mountpoint -q "$MNT" && [ -e "$MNT/events" ]; then
			return 0
		fi
		if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "daemon exited during startup:" >&2
			cat "$LOG" >&2
			return 1
		fi
		sleep 0.025
	done
	echo "mount did not become ready" >&2
	return 1
}

# start_daemon [charmfs options...]: mounts $STORE on $MNT. When
# DAEMON_WRAPPER names a command (e.g. a shell function), the daemon's
# command line is passed to it as arguments; the wrapper must exec it (so
# that DAEMON_PID stays the daemon's pid), e.g. to set a preload library.
start_daemon() {
	${DAEMON_WRAPPER:+"$DAEMON_WRAPPER"} "$CHARMFS" -f "$@" "$STORE" "$MNT" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_mounted || exit 1
}

# stop_daemon: unmounts and waits for the daemon to exit.
stop_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
}

# kill_daemon: kill -9, then clear the dead mount.
kill_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		kill -9 "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
}

cleanup() {
	stop_daemon
	if sanitizer_report >/dev/null; then
		echo "FAIL: sanitizer report in daemon log:" >&2
		cat "$LOG" >&2
		FAILS=$((FAILS + 1))
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# finish: prints the summary and sets the exit status.
finish() {
	stop_daemon
	if sanitizer_report >/dev/null; then
		echo "FAIL: sanitizer report in daemon log:" >&2
		cat "$LOG" >&2
		FAILS=$((FAILS + 1))
	fi
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# make_charm NAME OUT [SRC]: zips a sample charm (default tests/data/charms/NAME).
make_charm() {
	local name=$1 out=$2 src=${3:-}
	if [ -z "$src" ]; then
		src=$T/sample-$name
		[ -d "$src" ] || copy_charm "$name" "$src"
	fi
	rm -f "$out"
	(cd "$src" && zip -qry "$out" .)
}

# relink_hooks DIR: the sample charms' relation hooks are symlinks to
# ../lib/relation.sh; a tarball from `make dist` stores them as copies, so
# turn such copies back into the symlinks the tests expect.
relink_hooks() {
	local h
	[ -f "$1/lib/relation.sh" ] || return 0
	for h in "$1"/hooks/*-relation-*; do
		if [ -f "$h" ] && [ ! -L "$h" ] && cmp -s "$h" "$1/lib/relation.sh"; then
			rm -f "$h" && ln -s ../lib/relation.sh "$h"
		fi
	done
}

# copy_charm NAME DEST: copies a sample charm directory for editing.
copy_charm() {
	rm -rf "$2"
	cp -a "$SRCDIR/tests/data/charms/$1" "$2"
	relink_hooks "$2"
}

# pyzip OUT: builds the zip archive OUT from Python statements read on
# stdin, which may call:
#   add(name, data, mode=0o644, kind=stat.S_IFREG)  one entry (str or bytes)
#   link(name, target)                               a symlink entry
#   tree(src, skip=(), edit={}, prefix="")           a directory's files and
#       symlinks, minus the relative paths in skip, with the contents of
#       those in edit replaced (None drops the entry; new names are added)
#   sample(name, ...)                                tree() of tests/data/charms/NAME
#   meta(name), config(name)                         a sample's metadata.yaml, config.yaml
#   new(path)                                        closes OUT and starts another
#                                                    archive (one Python run for many)
# Entries are deflated; duplicate names are allowed (for hostile archives).
pyzip() {
	python3 -W ignore -c '
import os, stat, sys, zipfile
SRCDIR = sys.argv[2]
z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED)
def new(path):
    global z
    z.close()
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
def add(name, data, mode=0o644, kind=stat.S_IFREG):
    zi = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    zi.create_system = 3
    zi.external_attr = ((kind | mode) & 0xFFFF) << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(zi, data.encode() if isinstance(data, str) else data)
def link(name, target):
    add(name, target, 0o777, stat.S_IFLNK)
def tree(src, skip=(), edit={}, prefix=""):
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)
            if rel in skip:
                continue
            if rel in edit:
                if edit[rel] is not None:
                    add(prefix + rel, edit[rel], os.lstat(p).st_mode & 0o777)
            elif os.path.islink(p):
                link(prefix + rel, os.readlink(p))
            else:
                add(prefix + rel, open(p, "rb").read(), os.lstat(p).st_mode & 0o777)
    for rel, data in edit.items():
        if data is not None and not os.path.lexists(os.path.join(src, rel)):
            add(prefix + rel, data)
def sample(name, **kw):
    tree(os.path.join(SRCDIR, "tests/data/charms", name), **kw)
def meta(name):
    return open(os.path.join(SRCDIR, "tests/data/charms", name, "metadata.yaml")).read()
def config(name):
    return open(os.path.join(SRCDIR, "tests/data/charms", name, "config.yaml")).read()
exec(sys.stdin.read())
z.close()
' "$1" "$SRCDIR"
}

# metadata_of NAME: prints a sample charm's metadata.yaml.
metadata_of() {
	cat "$SRCDIR/tests/data/charms/$1/metadata.yaml"
}

# event_count: the number of lines in the root events file.
event_count() {
	wc -l <"$MNT/events"
}

# events_since N: the event lines after the first N.
events_since() {
	tail -n +"$(($1 + 1))" "$MNT/events"
}

# json_field JSONLINE EXPR: evaluates a Python expression over the object d.
json_field() {
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# store_state: a listing of charms/ (names, types, link targets; not the
# files/ trees, not event sizes) to compare before and after an operation.
store_state() {
	(cd "$MNT/charms" && find . -mindepth 1 -path '*/files' -prune -o -printf '%p %y %l\n' | LC_ALL=C sort)
}

# wait_for_grep FILE PATTERN [TENTHS]: polls until FILE holds a line matching
# PATTERN (a fixed string), for at most TENTHS tenths of a second (default 100).
wait_for_grep() {
	local i
	for i in $(seq 1 "${3:-100}"); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# daemon_alive: the daemon started by start_daemon is still running.
daemon_alive() {
	[ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null
}

# need_user NAME: makes sure the unprivileged user NAME exists (kept between
# runs; useradd fails while another process holds /etc/passwd's lock, so it
# is tried again). Exits 77 (skip) when the test cannot create users.
need_user() {
	local i
	if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null; then
		echo "SKIP: needs root, useradd and setpriv"
		exit 77
	fi
	for i in $(seq 1 100); do
		id "$1" >/dev/null 2>&1 && return 0
		useradd -M -N -s /bin/sh "$1" 2>/dev/null || sleep 0.1
	done
	echo "cannot create user $1" >&2
	exit 1
}

# run_as USER COMMAND...: runs COMMAND as USER with USER's groups.
run_as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

# errno_as USER PYTHON-CODE: errno_of as USER.
errno_as() {
	local u=$1
	shift
	run_as "$u" /usr/bin/python3 -c '
import errno, os, sys
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
' "$@"
}

# ctl_rw FILE REQUEST: a transaction on FILE opened read-write; prints the reply.
ctl_rw() {
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, (sys.argv[2] + "\n").encode())
sys.stdout.write(os.read(fd, 4096).decode())
' "$1" "$2"
}

# settle [SECONDS]: waits until no change is in progress (default 60 s); fails otherwise.
settle() {
	local reply
	reply=$(ctl_rw "$MNT/changes/ctl" "settle ${1:-60}")
	[ "$reply" = "ok" ] || { echo "settle: $reply" >&2; return 1; }
}

# newest_change KIND: the id of the newest change of KIND, or nothing.
newest_change() {
	local id
	for id in $(ls "$MNT/changes" | grep -v '^ctl$' | sort -rn); do
		if [ "$(cat "$MNT/changes/$id/kind" 2>/dev/null)" = "$1" ]; then
			echo "$id"
			return 0
		fi
	done
}

# ---- a second daemon (tests/mount/releases.sh: a publisher and its client) ----
# start_daemon2 [charmfs options...]: mounts $STORE2 on $MNT2 (stderr in
# $LOG2), waiting for the mount as start_daemon does; stop_daemon2 unmounts
# it and fails the test when its log holds a sanitizer report. A test that
# starts one sets `trap 'stop_daemon2; cleanup' EXIT`.
STORE2=$T/store2
MNT2=$T/mnt2
LOG2=$T/daemon2.log
DAEMON2_PID=

start_daemon2() {
	local i
	mkdir -p "$MNT2"
	"$CHARMFS" -f "$@" "$STORE2" "$MNT2" 2>>"$LOG2" &
	DAEMON2_PID=$!
	for i in $(seq 1 400); do
		mountpoint -q "$MNT2" && [ -e "$MNT2/events" ] && return 0
		if ! kill -0 "$DAEMON2_PID" 2>/dev/null; then
			echo "the second daemon exited during startup:" >&2
			cat "$LOG2" >&2
			exit 1
		fi
		sleep 0.025
	done
	echo "the second mount did not become ready" >&2
	exit 1
}

stop_daemon2() {
	if [ -n "$DAEMON2_PID" ]; then
		fusermount3 -u "$MNT2" 2>/dev/null || umount -l "$MNT2" 2>/dev/null
		wait "$DAEMON2_PID" 2>/dev/null
		DAEMON2_PID=
		if grep -qE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer" "$LOG2"; then
			echo "FAIL: sanitizer report in the second daemon's log:" >&2
			cat "$LOG2" >&2
			FAILS=$((FAILS + 1))
		fi
	fi
}

# serve NAME MODE ARGS...: a tests/unit/relserver.py (a release publisher,
# or a server that stalls, loops or speaks TLS) on 127.0.0.1 until the test
# ends (its stdin, a FIFO this shell holds, closes) or it is killed
# (SRVPID_NAME); its port in PORT_NAME.
serve() {
	local name=$1 fd
	shift
	mkfifo "$T/srv-$name.in"
	python3 "$SRCDIR/tests/unit/relserver.py" "$@" <"$T/srv-$name.in" >"$T/srv-$name.port" &
	eval "SRVPID_$name=$!"
	exec {fd}>"$T/srv-$name.in"
	for _ in $(seq 400); do [ -s "$T/srv-$name.port" ] && break; sleep 0.025; done
	eval "PORT_$name=$(head -n1 "$T/srv-$name.port")"
}
