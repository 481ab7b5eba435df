#!/bin/bash
# Reads under charms/ with the read caches of issue 15: a small immutable
# file's content goes into the kernel's page cache at its open
# (fs/fsfile.c, store_content()), and the store keeps what it read
# (backend/storecache.c). Whatever the size (empty, one page, several
# pages, past what an open stores, a file from the tree), every read
# returns the archive's bytes, at the first open and at the next ones, at
# any offset; archive.charm still counts each open; and a deleted
# revision, whose row id the next publish reuses, never shows through.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
copy_charm wordpress "$T/wp"
: >"$T/wp/empty"
python3 - "$T/wp" <<'PY'
import sys
d = sys.argv[1]
open(d + "/page", "w").write("p" * 4096)          # one page, kept in the database
open(d + "/tree.txt", "w").write("t" * 10000)     # too big for the database: from the tree
meta = open(d + "/metadata.yaml").read().replace("description: |\n", "description: |\n" + "  %s\n" * 400 % tuple(["filler line %d" % i for i in range(400)]), 1)
open(d + "/metadata.yaml", "w").write(meta)        # several pages (~10 KiB): stored at open
PY
make_charm wordpress "$T/wp.charm" "$T/wp"
check "publish" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
C=$MNT/charms/trusty/wordpress

same() { # LABEL PATH-IN-MOUNT FILE-IN-SOURCE
	expect_eq "$1" "$(sha256sum <"$3" | cut -d' ' -f1)" "$(sha256sum <"$2" | cut -d' ' -f1)"
}
for pass in first again; do
	same "$pass: empty file" "$C/0/files/empty" "$T/wp/empty"
	same "$pass: one-page file" "$C/0/files/page" "$T/wp/page"
	same "$pass: file from the tree" "$C/0/files/tree.txt" "$T/wp/tree.txt"
	same "$pass: README" "$C/0/files/README.md" "$T/wp/README.md"
	same "$pass: metadata.yaml of several pages" "$C/0/metadata.yaml" "$T/wp/metadata.yaml"
	same "$pass: files/metadata.yaml" "$C/0/files/metadata.yaml" "$T/wp/metadata.yaml"
	expect_eq "$pass: size matches the bytes read" "$(stat -c %s "$C/0/metadata.yaml")" "$(wc -c <"$C/0/metadata.yaml")"
	expect_eq "$pass: sha256 file" "$(sha256sum <"$C/0/archive.charm" | cut -d' ' -f1)" "$(cat "$C/0/sha256")"
	expect_eq "$pass: info names revision 0" "0" "$(json_field "$(cat "$C/0/info")" "d['revision']")"
done
expect_eq "a read at an offset" "$(tail -c +5000 "$T/wp/metadata.yaml" | head -c 100)" \
	"$(python3 -c "import os,sys; f=os.open('$C/0/metadata.yaml', os.O_RDONLY); sys.stdout.write(os.pread(f, 100, 4999).decode()); os.close(f)")"
expect_eq "a read past the end" "0" \
	"$(python3 -c "import os; f=os.open('$C/0/files/page', os.O_RDONLY); print(len(os.pread(f, 10, 4096))); os.close(f)")"

# Every open of archive.charm counts, its content cached or not (SPEC §4.1).
V=$MNT/counters/charm-bundle/trusty/wordpress/counter.value
before=$(cat "$V")
for i in 1 2 3; do
	check "archive open $i" sh -c 'cat "$1" >/dev/null' - "$C/0/archive.charm"
done
expect_eq "each open counted" "$((before + 3))" "$(cat "$V")"

# Delete the only revision: its row id is free, and the next publish takes it.
check "rmdir of the name" rmdir "$C"
expect_eq "revision 0 is gone" "ENOENT" "$(errno_of "os.stat('$C/0/files/README.md')")"
echo "edition two" >"$T/wp/README.md"
printf 'q%.0s' $(seq 1 4096) >"$T/wp/page"
make_charm wordpress "$T/wp2.charm" "$T/wp"
check "publish again" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "the new revision is 1" "1" "$(readlink "$C/latest")"
for pass in first again; do
	same "$pass: the new README" "$C/1/files/README.md" "$T/wp/README.md"
	same "$pass: the new one-page file" "$C/1/files/page" "$T/wp/page"
	same "$pass: the new README through latest" "$C/latest/files/README.md" "$T/wp/README.md"
	expect_eq "$pass: revision 0 stays gone" "ENOENT" "$(errno_of "os.stat('$C/0')")"
done
finish
