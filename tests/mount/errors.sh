#!/bin/bash
# The errnos of SPEC §5 for charms/, publish/ and events (§3, §4.1, §4.2),
# checked by name with Python's os calls; and the log line of a failed change
# (§2).
. "$SRCDIR/tests/mount/lib.sh"

# eno WHAT ERRNO PYTHON-CODE
eno() {
	expect_eq "$1" "$2" "$(errno_of "$3")"
}

start_daemon -o max_archive=100000
make_charm wordpress "$T/wp.charm"
check "publish wordpress" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
C=$MNT/charms/trusty/wordpress
lines=$(wc -l <"$LOG")

# --- ENOENT: paths that name nothing ---------------------------------------------
eno "ls charms/BadSeries" ENOENT "os.listdir('$MNT/charms/BadSeries')"
expect_errno "ls charms/BadSeries (shell)" "No such file or directory" ls "$MNT/charms/BadSeries"
eno "stat charms/trusty/Bad_Name" ENOENT "os.stat('$MNT/charms/trusty/Bad_Name')"
expect_errno "stat charms/trusty/Bad_Name (shell)" "No such file or directory" stat "$MNT/charms/trusty/Bad_Name"
eno "stat charms/ctl (reserved)" ENOENT "os.stat('$MNT/charms/ctl')"
eno "stat charms/incoming (reserved)" ENOENT "os.stat('$MNT/charms/incoming')"
eno "stat charms/~a (user too short)" ENOENT "os.stat('$MNT/charms/~a')"
eno "stat charms/~Bob (user starts upper-case)" ENOENT "os.stat('$MNT/charms/~Bob')"
eno "stat charms/trusty/mysql-55 (digit-only word)" ENOENT "os.stat('$MNT/charms/trusty/mysql-55')"
eno "stat charms/trusty/unpublished" ENOENT "os.stat('$MNT/charms/trusty/unpublished')"
eno "stat a missing revision" ENOENT "os.stat('$C/7')"
eno "stat revision 00" ENOENT "os.stat('$C/00')"
eno "stat revision -1" ENOENT "os.stat('$C/-1')"
eno "stat an overflowing revision" ENOENT "os.stat('$C/99999999999999999999999999')"
eno "stat a missing file in a revision" ENOENT "os.stat('$C/0/nothing')"
eno "stat a missing file under files/" ENOENT "os.stat('$C/0/files/nothing')"
eno "stat a missing root name" ENOENT "os.stat('$MNT/nothing')"
eno "stat publish/Bad_Series" ENOENT "os.stat('$MNT/publish/Bad_Series')"
eno "stat publish/trusty/missing.charm" ENOENT "os.stat('$MNT/publish/trusty/missing.charm')"
eno "stat publish/incoming/missing" ENOENT "os.stat('$MNT/publish/incoming/missing')"
eno "create under a bad series" ENOENT "os.open('$MNT/publish/Bad_Series/x.charm', os.O_WRONLY | os.O_CREAT)"
expect_eq "failed lookups are not logged" "$lines" "$(wc -l <"$LOG")"
check "the daemon survived the overflowing revision" daemon_alive

# --- EACCES: read-only files and trees --------------------------------------------
eno "open info for writing" EACCES "os.open('$C/0/info', os.O_WRONLY)"
eno "open archive.charm read-write" EACCES "os.open('$C/0/archive.charm', os.O_RDWR)"
eno "open a files/ entry for writing" EACCES "os.open('$C/0/files/README.md', os.O_WRONLY)"
eno "open events for writing" EACCES "os.open('$MNT/events', os.O_WRONLY | os.O_APPEND)"
eno "open the URL's events for writing" EACCES "os.open('$C/events', os.O_WRONLY)"
eno "truncate sha256" EACCES "os.truncate('$C/0/sha256', 0)"
expect_errno "echo > info (shell)" "Permission denied" bash -c "echo x > '$C/0/info'"
eno "unlink info" EACCES "os.unlink('$C/0/info')"
eno "unlink latest" EACCES "os.unlink('$C/latest')"
eno "unlink a files/ entry" EACCES "os.unlink('$C/0/files/hooks/install')"
eno "unlink the root events" EACCES "os.unlink('$MNT/events')"
eno "create in charms/trusty" EACCES "os.open('$MNT/charms/trusty/new', os.O_WRONLY | os.O_CREAT, 0o644)"
eno "create in a revision" EACCES "os.open('$C/0/new', os.O_WRONLY | os.O_CREAT, 0o644)"
eno "create in files/" EACCES "os.open('$C/0/files/new', os.O_WRONLY | os.O_CREAT, 0o644)"
eno "mkdir in charms/trusty" EACCES "os.mkdir('$MNT/charms/trusty/newcharm')"
eno "mkdir of a new revision" EACCES "os.mkdir('$C/5')"
eno "mkdir in files/" EACCES "os.mkdir('$C/0/files/newdir')"
eno "symlink in charms/" EACCES "os.symlink('0', '$C/stable')"
eno "rename a revision" EACCES "os.rename('$C/0', '$C/9')"
eno "create at the root" EACCES "os.open('$MNT/newfile', os.O_WRONLY | os.O_CREAT, 0o644)"
expect_errno "cp into charms/ (shell)" "Permission denied" cp "$T/wp.charm" "$MNT/charms/trusty/wordpress/0/files/x"
check "nothing changed in charms/" test "$(ls "$C" | xargs)" = "0 events latest"

# --- EINVAL: malformed URL parts, archives, request lines -------------------------
eno "mkdir publish/Bad_Series" EINVAL "os.mkdir('$MNT/publish/Bad_Series')"
expect_errno "mkdir publish/Bad_Series (shell)" "Invalid argument" mkdir "$MNT/publish/Bad_Series"
eno "mkdir publish/~A" EINVAL "os.mkdir('$MNT/publish/~A')"
# publish/ itself holds only series directories and is read-only (0555): a
# file there is a create in a read-only tree. SPEC §3 could also be read as
# EINVAL (not a valid series); EACCES matches the directory's mode.
eno "create publish/x.charm (not a series)" EACCES "os.open('$MNT/publish/x.charm', os.O_WRONLY | os.O_CREAT, 0o644)"
expect_errno "cp to publish/trusty/Bad_Name.charm" "Invalid argument" cp "$T/wp.charm" "$MNT/publish/trusty/Bad_Name.charm"
check "Bad_Name was not stored" test ! -e "$MNT/charms/trusty/Bad_Name"
head -c 2000 /dev/urandom >"$T/garbage.charm"
expect_errno "cp of garbage" "Invalid argument" cp "$T/garbage.charm" "$MNT/publish/trusty/wordpress.charm"
eno "close() of garbage is EINVAL" EINVAL "
fd = os.open('$MNT/publish/trusty/wordpress.charm', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open('$T/garbage.charm', 'rb').read())
os.close(fd)"
eno "request line garbage (read-write)" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_RDWR)
os.write(fd, b'frobnicate\n')"
expect_errno "request line garbage (echo >)" "Invalid argument" bash -c "echo frobnicate > '$MNT/publish/ctl'"
eno "request with a malformed URL" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/Bad_Name < incoming/x\n')"
eno "request with a URL with a bad user" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:~A/trusty/wordpress < incoming/x\n')"

# --- EEXIST ------------------------------------------------------------------------
expect_errno "publishing the same archive again" "File exists" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
eno "close() of a redundant publish is EEXIST" EEXIST "
fd = os.open('$MNT/publish/trusty/wordpress.charm', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)"
eno "rename onto .charm of a redundant archive is EEXIST" EEXIST "
fd = os.open('$MNT/publish/trusty/tmp.part', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)
os.rename('$MNT/publish/trusty/tmp.part', '$MNT/publish/trusty/wordpress.charm')"
eno "mkdir of an existing series" EEXIST "os.mkdir('$MNT/publish/trusty')"
eno "mkdir of a never-used series exists too" EEXIST "os.mkdir('$MNT/publish/xenial')"
check "mkdir -p of a series and ~user works" mkdir -p "$MNT/publish/~bob/xenial"
eno "mkdir of charms/trusty/wordpress/0" EEXIST "os.mkdir('$C/0')"

# --- EFBIG -------------------------------------------------------------------------
python3 -c 'import os, sys; open(sys.argv[1], "wb").write(os.urandom(150000))' "$T/rand"
copy_charm wordpress "$T/big"
cp "$T/rand" "$T/big/lib/blob"
make_charm wordpress "$T/big.charm" "$T/big"
expect_errno "an archive over max_archive" "File too large" cp "$T/big.charm" "$MNT/publish/trusty/wordpress.charm"
eno "close() over max_archive is EFBIG" EFBIG "
fd = os.open('$MNT/publish/trusty/wordpress.charm', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open('$T/big.charm', 'rb').read())
os.close(fd)"
check "nothing stored" test "$(ls "$C" | xargs)" = "0 events latest"

# --- the log names the path, the operation and the cause ---------------------------
lines=$(wc -l <"$LOG")
mkdir "$MNT/publish/Bad_Series" 2>/dev/null
newlog=$(tail -n +"$((lines + 1))" "$LOG")
expect_eq "a failed mkdir logs one line" "1" "$(printf '%s\n' "$newlog" | grep -c .)"
check "naming the path, the operation and the cause" sh -c "printf '%s\n' '$newlog' | grep 'publish/Bad_Series' | grep -i mkdir | grep -qi 'invalid argument'"
lines=$(wc -l <"$LOG")
rm -f "$C/0/info" 2>/dev/null
newlog=$(tail -n +"$((lines + 1))" "$LOG")
expect_eq "a failed unlink logs one line" "1" "$(printf '%s\n' "$newlog" | grep -c .)"
check "naming the path, the operation and the cause" sh -c "printf '%s\n' '$newlog' | grep 'wordpress/0/info' | grep -i unlink | grep -qi 'permission denied'"

# --- mount option ro: EROFS ------------------------------------------------------------
stop_daemon
start_daemon -o ro
check "ro: reads work" test "$(readlink "$C/latest")" = 0
eno "ro: publish is EROFS" EROFS "os.open('$MNT/publish/trusty/wordpress.charm', os.O_WRONLY | os.O_CREAT, 0o644)"
expect_errno "ro: cp fails" "Read-only file system" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
eno "ro: rmdir is EROFS" EROFS "os.rmdir('$C/0')"
eno "ro: unlink is EROFS" EROFS "os.unlink('$C/0/info')"
eno "ro: ctl request is EROFS" EROFS "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress < incoming/x\n')"
check "ro: revision 0 still there" test -d "$C/0"
stop_daemon
start_daemon

# An empty series directory of publish/ lists empty (SPEC §3: it exists).
check "ls of an empty publish/ series" test -z "$(ls -A "$MNT/publish/precise")"
check "daemon still running" daemon_alive
finish
