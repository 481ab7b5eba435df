#!/bin/bash
# Deleting (SPEC §4.1): rmdir of a revision or of a whole URL, files cannot
# be unlinked so rm -r deletes nothing, revision numbers are never reused;
# and every change shows at once through the kernel's caches (§2), even
# right after a failed lookup of the same name.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
C=$MNT/charms/trusty/wordpress

# wp_edition N: makes $T/wpN.charm, wordpress with a README edited N times.
wp_edition() {
	copy_charm wordpress "$T/wp$1"
	echo "edition $1" >>"$T/wp$1/README.md"
	make_charm wordpress "$T/wp$1.charm" "$T/wp$1"
}
for i in 0 1 2 3 4 5 6; do wp_edition $i; done

# --- visibility after a failed lookup ------------------------------------------
expect_eq "stat of an unpublished name fails" "ENOENT" "$(errno_of "os.stat('$C')")"
check "ls of it fails" sh -c "! ls '$C' >/dev/null 2>&1"
check "publish it" cp "$T/wp0.charm" "$MNT/publish/trusty/wordpress.charm"
check "stat succeeds at once" stat "$C" >/dev/null
check "ls charms/trusty shows it at once" sh -c "ls '$MNT/charms/trusty' | grep -qx wordpress"
expect_eq "latest -> 0" "0" "$(readlink "$C/latest")"
ev0=$(cat "$C/events")
expect_eq "stat of revision 1 fails" "ENOENT" "$(errno_of "os.stat('$C/1')")"
expect_eq "stat of revision 1's info fails" "ENOENT" "$(errno_of "os.stat('$C/1/info')")"
ls "$C" >/dev/null
check "publish revision 1" cp "$T/wp1.charm" "$MNT/publish/trusty/wordpress.charm"
check "stat of revision 1 succeeds at once" stat "$C/1" >/dev/null
check "stat of its info succeeds at once" stat "$C/1/info" >/dev/null
expect_eq "latest -> 1 at once" "1" "$(readlink "$C/latest")"
expect_eq "ls shows it at once" "0 1 events latest" "$(ls "$C" | xargs)"
expect_eq "the URL's events grew at once" "2" "$(wc -l <"$C/events")"
expect_eq "events st_size follows" "$(wc -c <"$C/events")" "$(stat -c %s "$C/events")"
expect_eq "latest/ resolves to the new revision" "cs:trusty/wordpress-1" "$(python3 -c "import json; print(json.load(open('$C/latest/info'))['canonical-url'])")"
check "publish revision 2" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 2" "2" "$(readlink "$C/latest")"

# --- unlink is refused, rm -r deletes nothing -------------------------------------
before=$(store_state)
for f in 2/info 2/archive.charm 2/metadata.yaml 2/sha256 2/files/README.md 2/files/hooks/install 2/files/hooks/db-relation-joined latest events; do
	expect_eq "unlink $f is EACCES" "EACCES" "$(errno_of "os.unlink('$C/$f')")"
done
expect_errno "rm of a revision file" "Permission denied" rm -f "$C/2/info"
expect_errno "rm -r of a revision" "Permission denied" rm -r "$C/2"
expect_errno "rm -rf of the URL" "Permission denied" rm -rf "$C"
expect_eq "rm -r deleted nothing" "$before" "$(store_state)"
check "revision 2's archive still reads" cmp -s "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
check "and is intact" sh -c "unzip -tq '$C/2/archive.charm' >/dev/null"
check "rmdir of files/ fails" sh -c "! rmdir '$C/2/files/lib' 2>/dev/null"
expect_eq "rmdir of files/ changes nothing" "$before" "$(store_state)"

# --- rmdir of one revision -----------------------------------------------------------
check "rmdir of the latest revision" rmdir "$C/2"
expect_eq "stat of it fails at once" "ENOENT" "$(errno_of "os.stat('$C/2')")"
expect_eq "latest follows to 1" "1" "$(readlink "$C/latest")"
expect_eq "ls at once" "0 1 events latest" "$(ls "$C" | xargs)"
check "rmdir of an older revision" rmdir "$C/0"
expect_eq "latest stays 1" "1" "$(readlink "$C/latest")"
expect_eq "ls shows only 1" "1 events latest" "$(ls "$C" | xargs)"
expect_eq "rmdir of a missing revision is ENOENT" "ENOENT" "$(errno_of "os.rmdir('$C/7')")"
expect_eq "rmdir of a deleted revision is ENOENT" "ENOENT" "$(errno_of "os.rmdir('$C/2')")"
check "next publish" cp "$T/wp3.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "does not reuse 2" "3" "$(readlink "$C/latest")"
expect_eq "revisions 1 and 3" "1 3 events latest" "$(ls "$C" | xargs)"
expect_eq "revision entry 3" "3" "$(unzip -p "$C/3/archive.charm" revision)"
# Deleting the latest revision makes the older content publishable again.
check "rmdir 3" rmdir "$C/3"
check "republish of 3's content" cp "$T/wp3.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "gets 4" "4" "$(readlink "$C/latest")"

# --- rmdir of the whole URL -------------------------------------------------------------
check "rmdir of the name directory" rmdir "$C"
expect_eq "stat fails at once" "ENOENT" "$(errno_of "os.stat('$C')")"
expect_eq "its revision is gone at once" "ENOENT" "$(errno_of "os.stat('$C/4/info')")"
check "ls charms/trusty does not show it" sh -c "! ls '$MNT/charms/trusty' | grep -qx wordpress"
expect_eq "rmdir again is ENOENT" "ENOENT" "$(errno_of "os.rmdir('$C')")"
check "publish after deleting everything" cp "$T/wp4.charm" "$MNT/publish/trusty/wordpress.charm"
check "the URL is back at once" stat "$C" >/dev/null
expect_eq "revision numbers are not reused" "5" "$(readlink "$C/latest")"
expect_eq "only the new revision" "5 events latest" "$(ls "$C" | xargs)"

# --- a revision shared by several URLs ---------------------------------------------------
B=$MNT/charms/~bob/trusty/wordpress
cp "$T/wp6.charm" "$MNT/publish/incoming/wp6.charm"
expect_eq "shared publish" "ok 6" "$(exec 3<>"$MNT/publish/ctl" && echo "publish shared-6 cs:trusty/wordpress cs:~bob/trusty/wordpress < incoming/wp6.charm" >&3 && cat <&3)"
check "rmdir of the shared revision under one URL" rmdir "$C/6"
expect_eq "gone there" "ENOENT" "$(errno_of "os.stat('$C/6')")"
expect_eq "latest there follows to 5" "5" "$(readlink "$C/latest")"
check "still under the other URL" test -d "$B/6"
check "its archive still reads" sh -c "unzip -tq '$B/6/archive.charm' >/dev/null"
expect_eq "its sha256 still matches" "$(cat "$B/6/sha256")" "$(sha256sum <"$B/6/archive.charm" | cut -d' ' -f1)"
check "files/ still served" test -x "$B/6/files/hooks/install"

# --- listings the kernel keeps ---------------------------------------------------------
# Listings under charms/ and the `latest` link stay in the kernel's cache until a
# publish or an rmdir invalidates them: each is listed twice before every change.
lsx() { ls "$1" >/dev/null && LC_ALL=C ls "$1" | xargs; }
P=$MNT/charms/precise
K=$MNT/charms/~carol
expect_eq "charms/ before" "trusty ~bob" "$(lsx "$MNT/charms")"
expect_eq "charms/precise is empty" "" "$(lsx "$P")"
expect_eq "charms/~carol is empty" "" "$(lsx "$K")"
expect_eq "charms/~carol/precise is empty" "" "$(lsx "$K/precise")"
check "publish to a new series" cp "$T/wp0.charm" "$MNT/publish/precise/wordpress.charm"
expect_eq "charms/ shows the series at once" "precise trusty ~bob" "$(lsx "$MNT/charms")"
expect_eq "the series shows the name at once" "wordpress" "$(lsx "$P")"
expect_eq "the name shows its revision" "0 events latest" "$(lsx "$P/wordpress")"
check "publish as a new user" cp "$T/wp1.charm" "$MNT/publish/~carol/precise/wordpress.charm"
expect_eq "charms/ shows the user at once" "precise trusty ~bob ~carol" "$(lsx "$MNT/charms")"
expect_eq "the user shows the series at once" "precise" "$(lsx "$K")"
expect_eq "the user's series shows the name at once" "wordpress" "$(lsx "$K/precise")"
expect_eq "files/ lists the same twice" "$(lsx "$P/wordpress/0/files")" "$(lsx "$P/wordpress/0/files")"
expect_eq "latest -> 0" "0" "$(readlink "$P/wordpress/latest")"
check "publish revision 1 there" cp "$T/wp2.charm" "$MNT/publish/precise/wordpress.charm"
expect_eq "the name lists it at once" "0 1 events latest" "$(lsx "$P/wordpress")"
expect_eq "latest -> 1 at once" "1" "$(readlink "$P/wordpress/latest")"
check "rmdir revision 1" rmdir "$P/wordpress/1"
expect_eq "latest -> 0 again at once" "0" "$(readlink "$P/wordpress/latest")"
expect_eq "the name lists 0 at once" "0 events latest" "$(lsx "$P/wordpress")"
check "rmdir of the series' last revision" rmdir "$P/wordpress/0"
expect_eq "the name is gone at once" "ENOENT" "$(errno_of "os.stat('$P/wordpress')")"
expect_eq "the series is empty at once" "" "$(lsx "$P")"
expect_eq "charms/ drops the series at once" "trusty ~bob ~carol" "$(lsx "$MNT/charms")"
check "rmdir of the user's only name" rmdir "$K/precise/wordpress"
expect_eq "the user's series is empty at once" "" "$(lsx "$K/precise")"
expect_eq "the user is empty at once" "" "$(lsx "$K")"
expect_eq "charms/ drops the user at once" "trusty ~bob" "$(lsx "$MNT/charms")"

# --- after a remount, the deletions hold ---------------------------------------------
before=$(store_state)
stop_daemon
start_daemon
expect_eq "deletions survive a remount" "$before" "$(store_state)"
q() { sqlite3 "$STORE/charmfs.db" "$1"; }
expect_eq "deleted revisions leave no files/ rows" "0" "$(q "SELECT count(*) FROM rev_files WHERE rev_id NOT IN (SELECT id FROM revisions)")"
expect_eq "every revision has its files/ rows" "$(q "SELECT count(*) FROM revisions")" "$(q "SELECT count(DISTINCT rev_id) FROM rev_files")"
check "next publish after remount" cp "$T/wp5.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "still does not reuse numbers" "7" "$(readlink "$C/latest")"
check "daemon still running" daemon_alive
finish
