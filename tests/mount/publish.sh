#!/bin/bash
# Publishing: a revision directory holds every file of SPEC §4.1, revisions
# count up and move latest, a redundant publish fails with EEXIST, and the
# multi-URL publish through the publish/ctl transaction file (§4, §4.2).
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
WP=$SRCDIR/tests/data/charms/wordpress
make_charm wordpress "$T/wp.charm"
C=$MNT/charms/trusty/wordpress
R=$C/0

# --- a first publish by cp -------------------------------------------------
n0=$(event_count)
check "cp publishes" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
for f in archive.charm metadata.yaml config.yaml files info sha256 digest size; do
	check "revision 0 has $f" test -e "$R/$f"
done
check "per-URL events file" test -f "$C/events"
expect_eq "revision listing" "archive.charm config.yaml digest files info metadata.yaml sha256 size" "$(ls "$R" | xargs)"
expect_eq "URL listing" "0 events latest" "$(ls "$C" | xargs)"
expect_eq "latest -> 0" "0" "$(readlink "$C/latest")"
check "latest is a symlink" test -L "$C/latest"
SHA=$(sha256sum <"$R/archive.charm" | cut -d' ' -f1)
expect_eq "sha256 file is sha256sum of archive.charm" "$SHA" "$(cat "$R/sha256")"
expect_eq "size file is the archive's size" "$(stat -c %s "$R/archive.charm")" "$(cat "$R/size")"
expect_eq "wc -c equals st_size" "$(stat -c %s "$R/archive.charm")" "$(wc -c <"$R/archive.charm")"
expect_eq "revision entry" "0" "$(unzip -p "$R/archive.charm" revision)"
check "archive.charm passes unzip -t" sh -c "unzip -tq '$R/archive.charm' >/dev/null"
check "digest is sha256:HEX" grep -qxE 'sha256:[0-9a-f]{64}' "$R/digest"
check "metadata.yaml byte for byte" cmp -s "$WP/metadata.yaml" "$R/metadata.yaml"
check "config.yaml byte for byte" cmp -s "$WP/config.yaml" "$R/config.yaml"
check "files/hooks/install is executable" test -x "$R/files/hooks/install"
check "files/ holds the charm's files" cmp -s "$WP/lib/common.sh" "$R/files/lib/common.sh"
expect_eq "files/ keeps relative symlinks" "../lib/relation.sh" "$(readlink "$R/files/hooks/db-relation-joined")"
check "text files end with a newline" test "$(tail -c1 "$R/sha256" | od -An -c | tr -d ' ')" = '\n'
check "info is JSON with the SPEC fields" python3 - "$R" "$SHA" <<'PY'
import json, os, re, sys
r, sha = sys.argv[1], sys.argv[2]
d = json.load(open(os.path.join(r, "info")))
assert set(d) == {"canonical-url", "revision", "sha256", "digest", "size", "published"}, d
assert d["canonical-url"] == "cs:trusty/wordpress-0", d
assert d["revision"] == 0 and isinstance(d["revision"], int), d
assert d["sha256"] == sha, d
assert d["digest"] == open(os.path.join(r, "digest")).read().strip(), d
assert d["size"] == os.path.getsize(os.path.join(r, "archive.charm")), d
assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", d["published"]), d
PY
ev=$(events_since "$n0")
expect_eq "one event for one publish" "1" "$(printf '%s\n' "$ev" | grep -c .)"
expect_eq "event kind" "published" "$(json_field "$ev" 'd["kind"]')"
expect_eq "event urls" "['cs:trusty/wordpress']" "$(json_field "$ev" 'd["urls"]')"
expect_eq "event revision" "0" "$(json_field "$ev" 'd["revision"]')"
expect_eq "event digest" "$(cat "$R/digest")" "$(json_field "$ev" 'd["digest"]')"
check "the published file stays in publish/ as written" cmp -s "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"

# --- compression of the stored archive: text deflated, random data and tiny files stored
copy_charm logrotate "$T/lrz"
head -c 65536 /dev/urandom >"$T/lrz/blob.bin"
for i in $(seq 400); do echo "line $i of a compressible text file"; done >"$T/lrz/notes.txt"
printf 'x' >"$T/lrz/tiny"
make_charm logrotate "$T/lrz.charm" "$T/lrz"
check "publish with a random blob" cp "$T/lrz.charm" "$MNT/publish/xenial/logrotate.charm"
Z=$MNT/charms/xenial/logrotate/0/archive.charm
method() { unzip -Z -v "$Z" "$1" | sed -n 's/^ *compression method: *//p'; }
expect_eq "random blob stored" "none (stored)" "$(method blob.bin)"
expect_eq "text deflated" "deflated" "$(method notes.txt)"
expect_eq "tiny file stored" "none (stored)" "$(method tiny)"
expect_eq "revision entry stored" "none (stored)" "$(method revision)"
check "stored archive smaller than blob + text" test "$(stat -c %s "$Z")" -lt $((65536 + 14000))
check "blob reads back" cmp -s "$T/lrz/blob.bin" "$MNT/charms/xenial/logrotate/0/files/blob.bin"
check "stored archive passes unzip -t" sh -c "unzip -tq '$Z' >/dev/null"

# files/: small files come from the database, big ones from the extracted tree;
# directories the archive only implies (zip -D writes no directory entries) exist.
ln -s notes.txt "$T/lrz/link"
mkdir -p "$T/lrz/deep/er"
echo nested >"$T/lrz/deep/er/file.txt"
rm -f "$T/lrz.charm"
(cd "$T/lrz" && zip -qryD "$T/lrz.charm" .)
check "publish without directory entries" cp "$T/lrz.charm" "$MNT/publish/xenial/logrotate.charm"
F=$MNT/charms/xenial/logrotate/1/files
listing() { (cd "$1" && find . -mindepth 1 -printf '%P %y\n' | LC_ALL=C sort); }
expect_eq "files/ lists the source, plus revision" \
	"$( (listing "$T/lrz"; echo "revision f") | LC_ALL=C sort)" "$(listing "$F")"
check "every file reads back byte for byte" sh -c "cd '$T/lrz' && find . -type f | while read -r p; do cmp -s \"\$p\" '$F/'\"\$p\" || exit 1; done"
expect_eq "sizes as in the source" "$(cd "$T/lrz" && find . -type f -printf '%P %s\n' | LC_ALL=C sort)" \
	"$(cd "$F" && find . -type f ! -name revision -printf '%P %s\n' | LC_ALL=C sort)"
expect_eq "symlink target" "notes.txt" "$(readlink "$F/link")"
expect_eq "revision file" "1" "$(cat "$F/revision")"
expect_eq "implied directory is a directory" "directory" "$(stat -c %F "$F/deep/er")"
expect_eq "file modes are read-only" "-r--r--r--" "$(stat -c %A "$F/notes.txt")"
expect_eq "ls -l of a small file" "-r--r--r-- 7" "$(stat -c '%A %s' "$F/deep/er/file.txt")"
check "the tree behind the big file exists" test -d "$STORE/trees/$(cat "$MNT/charms/xenial/logrotate/1/sha256")"
make_charm logrotate "$T/lr-small.charm"
check "publish a charm of small files" cp "$T/lr-small.charm" "$MNT/publish/~tiny/xenial/logrotate.charm"
S=$MNT/charms/~tiny/xenial/logrotate/0
check "its files read back" cmp -s "$SRCDIR/tests/data/charms/logrotate/README.md" "$S/files/README.md"
check "and it has no extracted tree" test ! -e "$STORE/trees/$(cat "$S/sha256")"
# metadata.yaml and config.yaml stay in the database whatever their size.
copy_charm logrotate "$T/lr-bigmeta"
for i in $(seq 300); do echo "# comment line $i of a long metadata.yaml"; done >>"$T/lr-bigmeta/metadata.yaml"
make_charm logrotate "$T/lr-bigmeta.charm" "$T/lr-bigmeta"
check "publish a charm with a 12 KiB metadata.yaml" cp "$T/lr-bigmeta.charm" "$MNT/publish/~big/xenial/logrotate.charm"
S=$MNT/charms/~big/xenial/logrotate/0
check "its metadata.yaml reads back" cmp -s "$T/lr-bigmeta/metadata.yaml" "$S/metadata.yaml"
check "as does files/metadata.yaml" cmp -s "$T/lr-bigmeta/metadata.yaml" "$S/files/metadata.yaml"
expect_eq "with its size" "$(stat -c %s "$T/lr-bigmeta/metadata.yaml")" "$(stat -c %s "$S/metadata.yaml")"
check "and no extracted tree" test ! -e "$STORE/trees/$(cat "$S/sha256")"

# --- revisions, latest, redundant publishes ---------------------------------
copy_charm wordpress "$T/wp2"
echo "second edition" >>"$T/wp2/README.md"
make_charm wordpress "$T/wp2.charm" "$T/wp2"
check "publish of different content" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
check "revision 1 exists" test -d "$C/1"
expect_eq "latest moved to 1" "1" "$(readlink "$C/latest")"
expect_eq "revision entry of 1" "1" "$(unzip -p "$C/1/archive.charm" revision)"
expect_eq "canonical-url of 1" "cs:trusty/wordpress-1" "$(json_field "$(cat "$C/1/info")" 'd["canonical-url"]')"
check "digests differ" test "$(cat "$C/0/digest")" != "$(cat "$C/1/digest")"

before=$(store_state)
n1=$(event_count)
expect_errno "same content again" "File exists" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "redundant publish stores nothing" "$before" "$(store_state)"
check "no revision 2" test ! -e "$C/2"
expect_eq "EEXIST from close()" "EEXIST" "$(errno_of "
fd = os.open('$MNT/publish/trusty/wordpress.charm', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, open('$T/wp2.charm', 'rb').read())
os.close(fd)")"
cp "$C/1/archive.charm" "$T/downloaded.charm"
expect_errno "re-publishing the downloaded archive.charm" "File exists" cp "$T/downloaded.charm" "$MNT/publish/trusty/wordpress.charm"
(cd "$T/wp2" && touch README.md && zip -qrXy -9 "$T/wp2b.charm" . -x README.md && zip -qXy "$T/wp2b.charm" README.md)
expect_errno "a fresh zip of the unchanged directory" "File exists" cp "$T/wp2b.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "still only revisions 0 and 1" "$before" "$(store_state)"
check "the redundant file stays in publish/" cmp -s "$T/wp2b.charm" "$MNT/publish/trusty/wordpress.charm"
check "chmod of a publish/ file works" chmod 600 "$MNT/publish/trusty/wordpress.charm"
expect_eq "and shows" "600" "$(stat -c %a "$MNT/publish/trusty/wordpress.charm")"
check "touch of a publish/ file works" touch -d @1000000000 "$MNT/publish/trusty/wordpress.charm"
expect_eq "and shows" "1000000000" "$(stat -c %Y "$MNT/publish/trusty/wordpress.charm")"
check "rm of a publish/ file works" rm "$MNT/publish/trusty/wordpress.charm"
check "and it is gone" test ! -e "$MNT/publish/trusty/wordpress.charm"

# An archive whose revision entry says 42 still gets the next revision.
echo "third" >>"$T/wp2/README.md"
pyzip "$T/wp42.charm" <<PY
tree("$T/wp2")
add("revision", "42\n")
PY
check "publish with a revision entry" cp "$T/wp42.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "revision entry is rewritten" "2" "$(unzip -p "$C/2/archive.charm" revision)"
expect_eq "latest -> 2" "2" "$(readlink "$C/latest")"

# A known hook without the execute bit is made executable, with a warning.
n2=$(event_count)
pyzip "$T/mysql-noexec.charm" <<'PY'
sample("mysql", edit={"hooks/install": None})
add("hooks/install", "#!/bin/sh\nexit 0\n", 0o644)
PY
check "publish with a non-executable install hook" cp "$T/mysql-noexec.charm" "$MNT/publish/trusty/mysql.charm"
check "install made executable" test -x "$MNT/charms/trusty/mysql/0/files/hooks/install"
ev=$(events_since "$n2")
check "the event warns about the hook" test "$(json_field "$ev" '"install" in " ".join(d.get("warnings") or [])')" = True

# A charm without config.yaml has no config.yaml in its revision.
pyzip "$T/haproxy-nocfg.charm" <<'PY'
sample("haproxy", skip=("config.yaml",))
PY
check "publish without config.yaml" cp "$T/haproxy-nocfg.charm" "$MNT/publish/precise/haproxy.charm"
check "revision exists" test -d "$MNT/charms/precise/haproxy/0"
check "config.yaml absent" test ! -e "$MNT/charms/precise/haproxy/0/config.yaml"
expect_eq "listing without config.yaml" "archive.charm digest files info metadata.yaml sha256 size" "$(ls "$MNT/charms/precise/haproxy/0" | xargs)"

# --- publish/ctl ------------------------------------------------------------
CTL=$MNT/publish/ctl
check "ctl exists" test -f "$CTL"
expect_eq "ctl shows size 0" "0" "$(stat -c %s "$CTL")"
# X to [a] -> 0, Y to [b] -> 0 and Y' to [b] -> 1.
A=cs:trusty/logrotate
B=cs:~bob/trusty/logrotate
make_charm logrotate "$T/x.charm"
copy_charm logrotate "$T/y"
echo y >"$T/y/NOTES"
make_charm logrotate "$T/y.charm" "$T/y"
echo y2 >>"$T/y/NOTES"
make_charm logrotate "$T/y2.charm" "$T/y"
check "X to a" cp "$T/x.charm" "$MNT/publish/trusty/logrotate.charm"
check "Y to b" cp "$T/y.charm" "$MNT/publish/~bob/trusty/logrotate.charm"
check "Y' to b" cp "$T/y2.charm" "$MNT/publish/~bob/trusty/logrotate.charm"
expect_eq "a latest" "0" "$(readlink "$MNT/charms/trusty/logrotate/latest")"
expect_eq "b latest" "1" "$(readlink "$MNT/charms/~bob/trusty/logrotate/latest")"

n3=$(event_count)
check "write to incoming/" cp "$T/x.charm" "$MNT/publish/incoming/lr.charm"
expect_eq "writing to incoming/ publishes nothing" "$n3" "$(event_count)"
check "incoming file holds what was written" cmp -s "$T/x.charm" "$MNT/publish/incoming/lr.charm"

# ctl_rw REQUEST: opens ctl read-write, writes REQUEST, prints the reply.
ctl_rw() {
	(
		exec 3<>"$CTL" || exit 1
		printf '%s\n' "$1" >&3 2>/dev/null || exit 1
		cat <&3
	)
}
expect_eq "multi-URL publish" "ok 2" "$(ctl_rw "publish git-1 $A $B < incoming/lr.charm")"
expect_eq "a latest -> 2" "2" "$(readlink "$MNT/charms/trusty/logrotate/latest")"
expect_eq "b latest -> 2" "2" "$(readlink "$MNT/charms/~bob/trusty/logrotate/latest")"
expect_eq "a digest is the given one" "git-1" "$(cat "$MNT/charms/trusty/logrotate/2/digest")"
expect_eq "b digest is the given one" "git-1" "$(cat "$MNT/charms/~bob/trusty/logrotate/2/digest")"
expect_eq "same archive under both" "$(cat "$MNT/charms/trusty/logrotate/2/sha256")" "$(cat "$MNT/charms/~bob/trusty/logrotate/2/sha256")"
expect_eq "revision entry of the multi-URL publish" "2" "$(unzip -p "$MNT/charms/~bob/trusty/logrotate/2/archive.charm" revision)"
expect_eq "canonical-url under ~bob" "cs:~bob/trusty/logrotate-2" "$(json_field "$(cat "$MNT/charms/~bob/trusty/logrotate/2/info")" 'd["canonical-url"]')"
ev=$(events_since "$n3")
expect_eq "one event for the multi-URL publish" "1" "$(printf '%s\n' "$ev" | grep -c .)"
expect_eq "its urls" "['$A', '$B']" "$(json_field "$ev" 'sorted(d["urls"])')"
expect_eq "its digest" "git-1" "$(json_field "$ev" 'd["digest"]')"
expect_eq "its revision" "2" "$(json_field "$ev" 'd["revision"]')"

before=$(store_state)
expect_eq "same digest again to [a,b]" "error charm is up-to-date" "$(ctl_rw "publish git-1 $A $B < incoming/lr.charm")"
expect_eq "nothing stored" "$before" "$(store_state)"
expect_eq "same digest to [b,a] (order does not matter)" "error charm is up-to-date" "$(ctl_rw "publish git-1 $B $A < incoming/lr.charm")"
C3=cs:precise/logrotate
expect_eq "one URL has the digest, one not" "ok 3" "$(ctl_rw "publish git-1 $A $C3 < incoming/lr.charm")"
expect_eq "a latest -> 3" "3" "$(readlink "$MNT/charms/trusty/logrotate/latest")"
expect_eq "new URL gets 3 only" "3 events latest" "$(ls "$MNT/charms/precise/logrotate" | xargs)"
expect_eq "b untouched" "2" "$(readlink "$MNT/charms/~bob/trusty/logrotate/latest")"

# The reply cursor: a second read after the reply returns nothing; the
# next request's reply is read from its start.
out=$(
	exec 3<>"$CTL"
	printf 'publish git-1 %s %s < incoming/lr.charm\n' "$A" "$C3" >&3
	cat <&3
	echo "|$(cat <&3)|"
	printf 'publish git-2 %s < incoming/lr.charm\n' "$B" >&3
	cat <&3
)
expect_eq "reply cursor per open file" "error charm is up-to-date
||
ok 3" "$out"

# Write-only: a failing request fails the write with its errno.
expect_errno "echo > ctl, redundant" "File exists" bash -c "echo 'publish git-2 $B < incoming/lr.charm' > '$CTL'"
expect_eq "write-only redundant is EEXIST" "EEXIST" "$(errno_of "
fd = os.open('$CTL', os.O_WRONLY)
os.write(fd, b'publish git-2 $B < incoming/lr.charm\n')")"
expect_eq "write-only missing incoming file is ENOENT" "ENOENT" "$(errno_of "
fd = os.open('$CTL', os.O_WRONLY)
os.write(fd, b'publish git-9 $B < incoming/nonexistent.charm\n')")"
check "echo > ctl, success" bash -c "echo 'publish git-3 $B < incoming/lr.charm' > '$CTL'"
expect_eq "b latest -> 4" "4" "$(readlink "$MNT/charms/~bob/trusty/logrotate/latest")"

# Read-write: a well-formed request that fails succeeds as a write.
check "missing incoming file: error reply" test "$(ctl_rw "publish git-9 $B < incoming/nonexistent.charm" | cut -d' ' -f1)" = error
expect_eq "read-write missing file write succeeds" "OK" "$(errno_of "
fd = os.open('$CTL', os.O_RDWR)
os.write(fd, b'publish git-9 $B < incoming/nonexistent.charm\n')")"
# URL names must match metadata.yaml's name.
cp "$T/wp.charm" "$MNT/publish/incoming/wp.charm"
before=$(store_state)
check "name mismatch through ctl: error reply" test "$(ctl_rw "publish git-7 cs:trusty/logrotate < incoming/wp.charm" | cut -d' ' -f1)" = error
expect_eq "name mismatch, write-only: EINVAL" "EINVAL" "$(errno_of "
fd = os.open('$CTL', os.O_WRONLY)
os.write(fd, b'publish git-7 cs:trusty/logrotate < incoming/wp.charm\n')")"
expect_eq "name mismatch stores nothing" "$before" "$(store_state)"

# Malformed requests fail the write with EINVAL, read-write or write-only.
for req in "garbage" "publish" "publish git-8" "publish git-8 $B" \
	"publish git-8 $B incoming/lr.charm" "publish git-8 < incoming/lr.charm" \
	"publish git-8 cs:trusty/Bad_Name < incoming/lr.charm" \
	"publish git-8 cs:Bad_Series/logrotate < incoming/lr.charm" \
	"publish git-8 $B < incoming/lr.charm lock"; do
	expect_eq "rw EINVAL for [$req]" "EINVAL" "$(errno_of "
fd = os.open('$CTL', os.O_RDWR)
os.write(fd, b'''$req\n''')")"
	expect_eq "wo EINVAL for [$req]" "EINVAL" "$(errno_of "
fd = os.open('$CTL', os.O_WRONLY)
os.write(fd, b'''$req\n''')")"
done
expect_errno "shell sees EINVAL" "Invalid argument" bash -c "echo garbage > '$CTL'"
expect_eq "malformed requests store nothing" "$before" "$(store_state)"

# Two writers of one open file (charmfs(5)): the first one's close publishes
# what it wrote, a torn archive, and fails; the second one's close publishes
# the whole file. Writing a temporary name and renaming it publishes once.
make_charm haproxy "$T/ha.charm"
n=$(event_count)
{ head -c 1000 "$T/ha.charm"; tail -c +1001 "$T/ha.charm"; } >"$MNT/publish/precise/haproxy.charm"
expect_eq "two writers: the first close fails, the second publishes" "publish-error published" \
	"$(events_since "$n" | python3 -c 'import json, sys; print(" ".join(json.loads(l)["kind"] for l in sys.stdin))')"
check "two writers: the whole charm is stored" cmp -s "$SRCDIR/tests/data/charms/haproxy/metadata.yaml" "$MNT/charms/precise/haproxy/0/files/metadata.yaml"
n=$(event_count)
check "temporary name" cp "$T/ha.charm" "$MNT/publish/xenial/haproxy.tmp"
check "mv onto the .charm name publishes" mv "$MNT/publish/xenial/haproxy.tmp" "$MNT/publish/xenial/haproxy.charm"
expect_eq "mv: one event, published" "published" \
	"$(events_since "$n" | python3 -c 'import json, sys; print(" ".join(json.loads(l)["kind"] for l in sys.stdin))')"

check "daemon still running" daemon_alive
finish
