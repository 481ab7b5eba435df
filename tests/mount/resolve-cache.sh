#!/bin/bash
# Resolve once per inode (fs/tree.h, "Revalidation"): charms/ nodes kept
# with their inodes answer as a fresh resolution would after a publish, a
# failed publish and a deletion moved the store's change time — stored
# revisions stay as they were, `latest`, listings and events move, and a
# deleted revision is gone at once even for inodes the kernel still holds.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
C=$MNT/charms/trusty/wordpress
for i in 0 1 2; do
	copy_charm wordpress "$T/wp$i"
	echo "edition $i" >>"$T/wp$i/README.md"
	make_charm wordpress "$T/wp$i.charm" "$T/wp$i"
done

check "publish 0" cp "$T/wp0.charm" "$MNT/publish/trusty/wordpress.charm"
# Look everything up and use it, so that the inodes keep their nodes.
info0=$(cat "$C/0/info")
size0=$(stat -c %s "$C/0/files/README.md")
exec 3<"$C/0/files/README.md"
expect_eq "latest -> 0" "0" "$(readlink "$C/latest")"
expect_eq "latest/info says 0" "0" "$(json_field "$(cat "$C/latest/info")" "d['revision']")"

check "publish 1" cp "$T/wp1.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 1 at once" "1" "$(readlink "$C/latest")"
expect_eq "latest/info says 1" "1" "$(json_field "$(cat "$C/latest/info")" "d['revision']")"
expect_eq "0/info unchanged" "$info0" "$(cat "$C/0/info")"
expect_eq "0's README size unchanged" "$size0" "$(stat -c %s "$C/0/files/README.md")"
expect_eq "0's README still edition 0" "edition 0" "$(tail -1 "$C/0/files/README.md")"
expect_eq "1's README is edition 1" "edition 1" "$(tail -1 "$C/1/files/README.md")"
expect_eq "the open README reads edition 0" "edition 0" "$(tail -1 <&3)"
expect_eq "listing shows 1" "0 1 events latest" "$(ls "$C" | xargs)"

# A failed publish moves the change time too; nothing it kept goes stale.
expect_eq "a bad archive fails" "EINVAL" "$(errno_of "f = open('$MNT/publish/trusty/wordpress.charm', 'wb'); f.write(b'not a zip'); f.close()")"
expect_eq "latest still 1" "1" "$(readlink "$C/latest")"
expect_eq "0/info still unchanged" "$info0" "$(cat "$C/0/info")"

check "rmdir 0 while its README is open" rmdir "$C/0"
expect_eq "0/info is gone at once" "ENOENT" "$(errno_of "os.stat('$C/0/info')")"
expect_eq "0's README is gone at once" "ENOENT" "$(errno_of "os.stat('$C/0/files/README.md')")"
exec 4<"$MNT/events"
expect_eq "events show the deletion" "deleted" "$(tail -1 <&4 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["kind"])')"
exec 4<&-
exec 3<&-
expect_eq "latest stays 1" "1" "$(readlink "$C/latest")"
check "publish 2" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 2" "2" "$(readlink "$C/latest")"
expect_eq "latest/info says 2" "2" "$(json_field "$(cat "$C/latest/info")" "d['revision']")"
check "rmdir of the name" rmdir "$C"
expect_eq "latest is gone at once" "ENOENT" "$(errno_of "os.stat('$C/latest')")"
expect_eq "1/info is gone at once" "ENOENT" "$(errno_of "os.stat('$C/1/info')")"
finish
