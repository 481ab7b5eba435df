#!/bin/bash
# Access (SPEC §2): with default_permissions the kernel enforces the modes
# the daemon shows, so every node must show its true owner, group and mode.
# Checked through the mount with real users: charmfs-u3 is in the group
# named by -o group (charmfs-t), charmfs-u2 is not. For each row of the
# access table: who may, who is refused with EACCES (or EPERM for a chown
# or chmod of someone else's file), and that a refusal leaves nothing.
# Also: RENAME_EXCHANGE and RENAME_WHITEOUT are refused with EINVAL.
. "$SRCDIR/tests/mount/lib.sh"

# A python3 that other users may run (not one under root's home).
PY=/usr/bin/python3
if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null ||
	! [ -x "$PY" ]; then
	echo "SKIP: needs root, useradd, setpriv and $PY"
	exit 77
fi

GRP=charmfs-t
U2=charmfs-u2 # not in $GRP
U3=charmfs-u3 # in $GRP

# The users are created once and kept (another run may be using them).
# useradd fails while another process holds /etc/passwd's lock: try again.
users_ready() {
	getent group "$GRP" >/dev/null && id "$U2" >/dev/null 2>&1 &&
		id -nG "$U3" 2>/dev/null | tr ' ' '\n' | grep -qx "$GRP"
}
for _ in $(seq 1 100); do
	users_ready && break
	getent group "$GRP" >/dev/null || groupadd "$GRP" 2>/dev/null
	id "$U2" >/dev/null 2>&1 || useradd -M -N -s /bin/sh "$U2" 2>/dev/null
	id "$U3" >/dev/null 2>&1 || useradd -M -N -s /bin/sh -G "$GRP" "$U3" 2>/dev/null
	id -nG "$U3" 2>/dev/null | tr ' ' '\n' | grep -qx "$GRP" || usermod -aG "$GRP" "$U3" 2>/dev/null
	users_ready || sleep 0.1
done
users_ready || { echo "cannot create $U2, $U3 and $GRP" >&2; exit 1; }

chmod 0755 "$T"


# errno_as USER PYTHON-CODE: errno_of as USER.
errno_as() {
	local u=$1
	shift
	run_as "$u" "$PY" -c '
import ctypes, errno, os, sys
def renameat2(a, b, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
' "$@"
}

owner() {
	stat -c '%U:%G %a' "$1"
}

start_daemon -o allow_other,default_permissions,group=$GRP
P=$MNT/publish
L=$MNT/locks
C=$MNT/counters
make_charm mysql "$T/mysql.charm"
make_charm wordpress "$T/wp.charm"
make_charm haproxy "$T/haproxy.charm"
check "root publishes" cp "$T/mysql.charm" "$P/trusty/mysql.charm"
check "root takes a lock" mkdir "$L/trusty/held"
check "root makes a counter key" mkdir "$C/dl"
(umask 077 && cp "$T/haproxy.charm" "$P/incoming/secret.charm")

# ---- the table ----------------------------------------------------------------
R=$MNT/charms/trusty/mysql/0
expect_eq "/" "root:root 555" "$(owner "$MNT")"
expect_eq "events" "root:root 444" "$(owner "$MNT/events")"
expect_eq "charms/" "root:root 555" "$(owner "$MNT/charms")"
expect_eq "charms/~user" "root:root 555" "$(owner "$MNT/charms/~bob")"
expect_eq "charms/SERIES" "root:root 755" "$(owner "$MNT/charms/trusty")"
expect_eq "charms/SERIES/NAME" "root:root 755" "$(owner "$MNT/charms/trusty/mysql")"
expect_eq "charms/.../N" "root:root 555" "$(owner "$R")"
expect_eq "charms/.../events" "root:root 444" "$(owner "$MNT/charms/trusty/mysql/events")"
for f in archive.charm metadata.yaml config.yaml info sha256 digest size files/metadata.yaml; do
	expect_eq "charms/.../N/$f" "root:root 444" "$(owner "$R/$f")"
done
expect_eq "charms/.../N/files" "root:root 555" "$(owner "$R/files")"
expect_eq "charms/.../files/hooks/install" "root:root 555" "$(owner "$R/files/hooks/install")"
expect_eq "publish/" "root:$GRP 775" "$(owner "$P")"
expect_eq "publish/ctl" "root:$GRP 664" "$(owner "$P/ctl")"
expect_eq "publish/SERIES" "root:$GRP 1775" "$(owner "$P/precise")"
expect_eq "publish/~user" "root:$GRP 775" "$(owner "$P/~bob")"
expect_eq "publish/~user/SERIES" "root:$GRP 1775" "$(owner "$P/~bob/precise")"
expect_eq "publish/incoming" "root:$GRP 1770" "$(owner "$P/incoming")"
expect_eq "root's file in publish/incoming" "root:root 600" "$(owner "$P/incoming/secret.charm")"
expect_eq "root's file in publish/SERIES" "root:root 644" "$(owner "$P/trusty/mysql.charm")"
expect_eq "locks/" "root:$GRP 775" "$(owner "$L")"
expect_eq "locks/ctl" "root:$GRP 664" "$(owner "$L/ctl")"
expect_eq "locks/~user" "root:$GRP 775" "$(owner "$L/~bob")"
expect_eq "locks/SERIES" "root:$GRP 775" "$(owner "$L/trusty")"
expect_eq "a lock" "root:$GRP 775" "$(owner "$L/trusty/held")"
for f in id holder since expires; do
	expect_eq "a lock's $f" "root:$GRP 444" "$(owner "$L/trusty/held/$f")"
done
for d in "$C" "$C/dl"; do
	expect_eq "counter key ${d#"$MNT"/}" "root:$GRP 775" "$(owner "$d")"
	for f in value total list by-day by-week; do
		expect_eq "${d#"$MNT"/}/counter.$f" "root:$GRP 444" "$(owner "$d/counter.$f")"
	done
	expect_eq "${d#"$MNT"/}/counter.inc" "root:$GRP 220" "$(owner "$d/counter.inc")"
	expect_eq "${d#"$MNT"/}/counter.query" "root:root 666" "$(owner "$d/counter.query")"
done
expect_eq "backup/" "root:root 700" "$(owner "$MNT/backup")"
# A new file's mode is the creator's request under the creator's umask,
# whatever the daemon's own umask (022 here).
(umask 002 && : >"$P/trusty/m.tmp")
expect_eq "a new file's mode under umask 002" "root:root 664" "$(owner "$P/trusty/m.tmp")"
(umask 0 && : >"$P/trusty/m0.tmp")
expect_eq "a new file's mode under umask 0" "root:root 666" "$(owner "$P/trusty/m0.tmp")"
rm -f "$P/trusty/m.tmp" "$P/trusty/m0.tmp"

# ---- anyone reads charms/, events, counters, lock details ----------------------
for u in $U2 $U3; do
	check "$u reads metadata.yaml" run_as $u cmp -s "$R/metadata.yaml" "$SRCDIR/tests/data/charms/mysql/metadata.yaml"
	check "$u reads archive.charm" run_as $u cmp -s "$R/archive.charm" "$R/archive.charm"
	check "$u reads files/" run_as $u cat "$R/files/hooks/install" >/dev/null
	check "$u lists charms/" run_as $u ls -R "$MNT/charms" >/dev/null
	check "$u reads events" run_as $u cat "$MNT/events" >/dev/null
	check "$u reads counter.value" run_as $u cat "$C/dl/counter.value" >/dev/null
	check "$u reads a lock's holder" run_as $u cat "$L/trusty/held/holder" >/dev/null
	reply=$(run_as $u bash -c 'exec 3<>"$1" && echo exact >&3 && cat <&3' - "$C/dl/counter.query")
	expect_eq "$u asks counter.query" 0 "$reply"
done

# ---- root alone deletes ----------------------------------------------------------
events=$(event_count)
state=$(store_state)
for u in $U2 $U3; do
	expect_eq "$u rmdir of a charm" EACCES "$(errno_as $u "os.rmdir('$MNT/charms/trusty/mysql')")"
	expect_eq "$u rmdir of a revision" EACCES "$(errno_as $u "os.rmdir('$R')")"
	expect_eq "$u reads backup/charmfs.db" EACCES "$(errno_as $u "open('$MNT/backup/charmfs.db').read()")"
	expect_eq "$u lists backup/" EACCES "$(errno_as $u "os.listdir('$MNT/backup')")"
done
expect_eq "refused rmdirs delete nothing" "$state" "$(store_state)"
expect_eq "refused rmdirs leave no event" "$events" "$(event_count)"
check "root lists backup/" test -f "$MNT/backup/charmfs.db"

# ---- publishing: the group ---------------------------------------------------------
expect_eq "$U2 publishes" EACCES "$(errno_as $U2 "open('$P/trusty/wordpress.charm', 'wb').write(open('$T/wp.charm', 'rb').read())")"
expect_eq "$U2 creates in publish/incoming" EACCES "$(errno_as $U2 "open('$P/incoming/x', 'wb')")"
expect_eq "$U2 opens publish/ctl" EACCES "$(errno_as $U2 "open('$P/ctl', 'r+')")"
check "refused publish: no revision" test ! -e "$MNT/charms/trusty/wordpress"
check "refused publish: no file" test ! -e "$P/trusty/wordpress.charm"
expect_eq "refused publish: no event" "$events" "$(event_count)"

check "$U3 publishes" run_as $U3 sh -c 'umask 002 && cat "$1" > "$2"' - "$T/wp.charm" "$P/trusty/wordpress.charm"
check "$U3's publish stored" test -d "$MNT/charms/trusty/wordpress/0"
expect_eq "$U3's charm belongs to root" "root:root 555" "$(owner "$MNT/charms/trusty/wordpress/0")"
G3=$(id -gn $U3)
expect_eq "$U3's file is its own, mode masked by its umask" "$U3:$G3 664" "$(owner "$P/trusty/wordpress.charm")"
check "$U3 opens publish/ctl" run_as $U3 "$PY" -c "open('$P/ctl', 'r+')"
check "$U3 writes publish/incoming" run_as $U3 cp "$T/haproxy.charm" "$P/incoming/u3.charm"
expect_eq "$U3's incoming file" "$U3:$G3 644" "$(owner "$P/incoming/u3.charm")"
check "$U3 chmods its file" run_as $U3 chmod 600 "$P/trusty/wordpress.charm"
expect_eq "chmod by the owner" "$U3:$G3 600" "$(owner "$P/trusty/wordpress.charm")"
check "$U3 touches its file" run_as $U3 touch -d 2020-01-01 "$P/trusty/wordpress.charm"
expect_eq "touch by the owner" 2020-01-01 "$(date -r "$P/trusty/wordpress.charm" +%F)"
expect_eq "$U3 gives its file away" EPERM "$(errno_as $U3 "os.chown('$P/trusty/wordpress.charm', $(id -u $U2), -1)")"
expect_eq "a refused chown changes nothing" "$U3:$G3 600" "$(owner "$P/trusty/wordpress.charm")"
check "root chowns it" chown "$U2" "$P/trusty/wordpress.charm"
expect_eq "chown by root" "$U2:$G3 600" "$(owner "$P/trusty/wordpress.charm")"
chown "$U3" "$P/trusty/wordpress.charm"
chmod 644 "$P/trusty/wordpress.charm"

# Someone else's file: root's 0600 file in incoming, and $U3's file.
expect_eq "$U2 reads root's incoming file" EACCES "$(errno_as $U2 "open('$P/incoming/secret.charm').read()")"
expect_eq "$U2 overwrites it" EACCES "$(errno_as $U2 "open('$P/incoming/secret.charm', 'w')")"
expect_eq "$U2 chmods it" EACCES "$(errno_as $U2 "os.chmod('$P/incoming/secret.charm', 0o666)")"
expect_eq "$U3 reads root's 0600 file" EACCES "$(errno_as $U3 "open('$P/incoming/secret.charm').read()")"
expect_eq "$U3 overwrites it" EACCES "$(errno_as $U3 "open('$P/incoming/secret.charm', 'w')")"
expect_eq "$U3 truncates it" EACCES "$(errno_as $U3 "os.truncate('$P/incoming/secret.charm', 0)")"
expect_eq "$U3 chmods it" EPERM "$(errno_as $U3 "os.chmod('$P/incoming/secret.charm', 0o666)")"
expect_eq "$U3 renames root's file away (sticky publish/incoming)" EPERM "$(errno_as $U3 "os.rename('$P/incoming/secret.charm', '$P/incoming/mine.charm')")"
expect_eq "$U3 replaces root's file by a rename" EPERM "$(errno_as $U3 "open('$P/incoming/u3x', 'w').close(); os.rename('$P/incoming/u3x', '$P/incoming/secret.charm')")"
expect_eq "$U3 removes root's file" EPERM "$(errno_as $U3 "os.unlink('$P/incoming/secret.charm')")"
rm -f "$P/incoming/u3x"
expect_eq "root's file unchanged" "root:root 600" "$(owner "$P/incoming/secret.charm")"
check "root's file content unchanged" cmp -s "$T/haproxy.charm" "$P/incoming/secret.charm"
expect_eq "$U2 overwrites $U3's file" EACCES "$(errno_as $U2 "open('$P/trusty/wordpress.charm', 'w')")"
expect_eq "$U2 chmods $U3's file" EPERM "$(errno_as $U2 "os.chmod('$P/trusty/wordpress.charm', 0o666)")"
expect_eq "$U2 removes $U3's file" EACCES "$(errno_as $U2 "os.unlink('$P/trusty/wordpress.charm')")"
check "$U3's file is still there" cmp -s "$T/wp.charm" "$P/trusty/wordpress.charm"

# publish/ctl publishes only a file the caller could read itself.
ctl_as() { # USER LINE: the reply, or the errno of the write
	run_as "$1" "$PY" -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.write(fd, sys.argv[2].encode() + b"\n")
except OSError as e:
    print(errno.errorcode[e.errno])
    sys.exit()
print(os.read(fd, 4096).decode().strip())
' "$P/ctl" "$2"
}
expect_eq "$U3 publishes root's 0600 file through publish/ctl" "error incoming/secret.charm: you could not read it yourself" \
	"$(ctl_as $U3 "publish d1 cs:xenial/haproxy < incoming/secret.charm")"
check "a refused ctl publish stores nothing" test ! -e "$MNT/charms/xenial/haproxy"
chgrp "$GRP" "$P/incoming/secret.charm"
chmod 0640 "$P/incoming/secret.charm"
expect_eq "$U3 publishes a 0640 file of its group" "ok 0" \
	"$(ctl_as $U3 "publish d1 cs:xenial/haproxy < incoming/secret.charm")"
expect_eq "$U3 publishes its own file" "ok 1" \
	"$(ctl_as $U3 "publish d2 cs:xenial/haproxy < incoming/u3.charm")"
chmod 0600 "$P/incoming/u3.charm"
check "root publishes anyone's file" sh -c "exec 3<>'$P/ctl' && echo 'publish d3 cs:xenial/haproxy < incoming/u3.charm' >&3 && test \"\$(cat <&3)\" = 'ok 2'"
chgrp root "$P/incoming/secret.charm"
chmod 0600 "$P/incoming/secret.charm"

# ---- locks: the group takes and releases, anyone reads ------------------------------
expect_eq "$U2 takes a lock" EACCES "$(errno_as $U2 "os.mkdir('$L/trusty/nope')")"
expect_eq "$U2 releases root's lock" EACCES "$(errno_as $U2 "os.rmdir('$L/trusty/held')")"
expect_eq "$U2 renews root's lock" EACCES "$(errno_as $U2 "os.utime('$L/trusty/held')")"
expect_eq "$U2 opens locks/ctl" EACCES "$(errno_as $U2 "open('$L/ctl', 'r+')")"
expect_eq "refused lock requests leave one lock" held "$(ls "$L/trusty")"
check "$U3 takes a lock" run_as $U3 mkdir "$L/trusty/mine"
check "$U3's lock names it" grep -q "uid $(id -u $U3) " "$L/trusty/mine/holder"
check "$U3 renews a lock" run_as $U3 touch "$L/trusty/mine"
check "$U3 releases a lock" run_as $U3 rmdir "$L/trusty/mine"
reply=$(run_as $U3 bash -c 'exec 3<>"$1" && echo "lock cs:trusty/viactl" >&3 && cat <&3' - "$L/ctl")
case $reply in ok\ *) pass ;; *) fail "$U3 locks through locks/ctl: $reply" ;; esac
reply=$(run_as $U3 bash -c 'exec 3<>"$1" && echo "unlock $2" >&3 && cat <&3' - "$L/ctl" "${reply#ok }")
expect_eq "$U3 unlocks through locks/ctl" ok "$reply"

# ---- counters: the group counts, anyone asks ----------------------------------------
expect_eq "$U2 counts" EACCES "$(errno_as $U2 "open('$C/dl/counter.inc', 'w').write('5')")"
expect_eq "$U2 makes a key" EACCES "$(errno_as $U2 "os.mkdir('$C/nope')")"
expect_eq "refused count changes nothing" 0 "$(cat "$C/dl/counter.value")"
check "refused mkdir makes no key" test ! -e "$C/nope"
check "$U3 counts" run_as $U3 sh -c 'echo 5 > "$1"' - "$C/dl/counter.inc"
expect_eq "$U3's count" 5 "$(cat "$C/dl/counter.value")"
check "$U3 makes a key" run_as $U3 mkdir "$C/team"
check "$U3 removes a key" run_as $U3 rmdir "$C/team"

# ---- renameat2 flags that publish/ cannot honour ------------------------------------
cp "$T/haproxy.charm" "$P/trusty/h.tmp"
: >"$P/trusty/haproxy.charm"
events=$(event_count)
expect_eq "RENAME_EXCHANGE onto a .charm name" EINVAL \
	"$(errno_as root "renameat2('$P/trusty/h.tmp', '$P/trusty/haproxy.charm', 2)")"
expect_eq "RENAME_WHITEOUT onto a .charm name" EINVAL \
	"$(errno_as root "renameat2('$P/trusty/h.tmp', '$P/trusty/haproxy2.charm', 4)")"
expect_eq "RENAME_WHITEOUT" EINVAL "$(errno_as root "renameat2('$P/trusty/h.tmp', '$P/trusty/h2.tmp', 4)")"
check "refused renames publish nothing" test ! -e "$MNT/charms/trusty/haproxy"
expect_eq "refused renames leave no event" "$events" "$(event_count)"
check "refused renames move nothing" cmp -s "$T/haproxy.charm" "$P/trusty/h.tmp"
expect_eq "refused renames leave the target" 0 "$(stat -c %s "$P/trusty/haproxy.charm")"
check "no whiteout left" test ! -e "$P/trusty/haproxy2.charm" -a ! -e "$P/trusty/h2.tmp"
check "a plain rename still publishes" mv "$P/trusty/h.tmp" "$P/trusty/haproxy.charm"
check "renamed publish stored" test -d "$MNT/charms/trusty/haproxy/0"

# ---- without -o group, only root writes ----------------------------------------------
stop_daemon
start_daemon -o allow_other,default_permissions
expect_eq "publish/ without a group" "root:root 755" "$(owner "$P")"
expect_eq "publish/SERIES without a group" "root:root 1755" "$(owner "$P/trusty")"
expect_eq "publish/ctl without a group" "root:root 644" "$(owner "$P/ctl")"
expect_eq "publish/incoming without a group" "root:root 1750" "$(owner "$P/incoming")"
expect_eq "locks/SERIES without a group" "root:root 755" "$(owner "$L/trusty")"
expect_eq "locks/ctl without a group" "root:root 644" "$(owner "$L/ctl")"
expect_eq "counter key without a group" "root:root 755" "$(owner "$C/dl")"
expect_eq "counter.inc without a group" "root:root 200" "$(owner "$C/dl/counter.inc")"
expect_eq "counter.query without a group" "root:root 666" "$(owner "$C/dl/counter.query")"
expect_eq "$U3 publishes without a group" EACCES \
	"$(errno_as $U3 "open('$P/trusty/x.charm', 'wb')")"
expect_eq "$U3 takes a lock without a group" EACCES "$(errno_as $U3 "os.mkdir('$L/trusty/nope')")"
expect_eq "$U3 counts without a group" EACCES "$(errno_as $U3 "open('$C/dl/counter.inc', 'w')")"
check "root still publishes" cp "$T/wp.charm" "$P/precise/wordpress.charm"

finish
