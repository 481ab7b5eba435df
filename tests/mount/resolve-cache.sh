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

# A kept node is packed (tree_ops.pack): an open of a kept file serves the
# bytes and attributes a fresh resolution serves. Each file is read with its
# pages dropped first (so that READs reach this open's own snapshot or
# descriptor) and then stat'ed (a READ makes the kernel ask for attributes
# again), once through its kept node, then again after a failed publish
# moved the change time (each request resolves afresh).
copy_charm wordpress "$T/wp3"
head -c 12000 /dev/urandom | base64 >"$T/wp3/big.txt"
make_charm wordpress "$T/wp3.charm" "$T/wp3"
check "publish 3" cp "$T/wp3.charm" "$MNT/publish/trusty/wordpress.charm"
read_uncached() {
	python3 - "$C/3" archive.charm info digest sha256 size metadata.yaml config.yaml \
		files/README.md files/hooks/install files/big.txt files/lib/relation.sh <<'EOF'
import hashlib, os, sys
for f in sys.argv[2:]:
    fd = os.open(os.path.join(sys.argv[1], f), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    data = b''
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            break
        data += b
    os.close(fd)
    st = os.stat(os.path.join(sys.argv[1], f))
    print(f, len(data), hashlib.sha256(data).hexdigest(), st.st_size, oct(st.st_mode),
          st.st_mtime_ns, st.st_nlink)
EOF
}
stat "$C/3"/* "$C/3/files"/* "$C/3/files/hooks/install" "$C/3/files/lib/relation.sh" >/dev/null
kept=$(read_uncached)
expect_eq "a bad archive fails again" "EINVAL" "$(errno_of "f = open('$MNT/publish/trusty/wordpress.charm', 'wb'); f.write(b'not a zip'); f.close()")"
expect_eq "kept nodes read as fresh ones" "$(read_uncached)" "$kept"
expect_eq "each size is what a read returns" "" "$(awk '$2 != $4' <<<"$kept")"
expect_eq "and as the archive's files" "$(sha256sum <"$T/wp3/big.txt" | cut -d' ' -f1)" "$(awk '$1 == "files/big.txt" {print $3}' <<<"$kept")"
expect_eq "and info's digest is digest's" "$(cat "$C/3/digest")" "$(json_field "$(cat "$C/3/info")" "d['digest']")"
finish
