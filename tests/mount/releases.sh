#!/bin/bash
# Releases to serve (SPEC §4.9, §4.11): root copies release archives and
# signatures into upgrade/releases/VERSION/ with cp, rsync and mv, and the
# HTTP API serves them under /releases/ as a release publisher: versions by
# precedence, latest, each VERSION document (a signature that openssl
# verifies against the downloaded archive), the archive itself byte for
# byte, with Range, HEAD and ETag, and 404s. Names that are not versions,
# other files, deeper directories and links are EINVAL, an equal
# precedence EEXIST; a second user reads but cannot create or remove
# (EACCES); rm -r removes a version; a change made directly in
# STOREDIR/releases shows at once; `cp -a backup/` holds releases/. Then a
# second charmfs follows the first: its upgrade/ctl check shows what the
# first one serves, and follows a removal.
. "$SRCDIR/tests/mount/lib.sh"

U2=charmfs-u2
need_user "$U2"
chmod 0755 "$T"
trap 'stop_daemon2; cleanup' EXIT

PORT=$(free_port)
B=http://127.0.0.1:$PORT/releases
R=$MNT/upgrade/releases
start_daemon -o "allow_other,http=127.0.0.1:$PORT"
for _ in $(seq 1 400); do
	curl -s -o /dev/null "$B/versions" && break
	sleep 0.025
done

# code URL: the HTTP status of a GET.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- the directory ------------------------------------------------------------
expect_eq "upgrade/ lists releases/" "ctl current history latest releases status versions" \
	"$(ls "$MNT/upgrade" | xargs)"
expect_eq "releases/ is root's, 0755" "root:root 755 directory" "$(stat -c '%U:%G %a %F' "$R")"
expect_eq "empty at first" "" "$(ls -A "$R")"
expect_eq "no versions yet" "[]" "$(curl -sf "$B/versions")"
expect_eq "no latest yet: 404" "404" "$(code "$B/latest")"

# ---- releases, copied in ----------------------------------------------------------
"$CHARMFS" --keygen "$T/k" >/dev/null
mkdir -p "$T/a/charms/trusty" "$T/b"
make_charm wordpress "$T/a/charms/trusty/wordpress.charm"
tar -C "$T/a" -cf "$T/r1.tar" charms
echo '{}' >"$T/b/packages.json"
head -c 300000 /dev/urandom >"$T/b/filler"
tar -C "$T/b" -czf "$T/r2.tar.gz" packages.json filler
"$CHARMFS" --sign-release "$T/k.pem" "$T/r1.tar" 0.1.0 >"$T/sig1"
"$CHARMFS" --sign-release "$T/k.pem" "$T/r2.tar.gz" 0.10.0-rc.1 >"$T/sig3"

check "mkdir a version" mkdir "$R/0.1.0"
check "cp its archive" cp "$T/r1.tar" "$R/0.1.0/release"
check "cp its signature" cp "$T/sig1" "$R/0.1.0/signature"
check "mkdir -p another" mkdir -p "$R/0.2.0"
check "cp, no signature" cp "$T/r2.tar.gz" "$R/0.2.0/release"
mkdir -p "$T/v3"
cp "$T/r2.tar.gz" "$T/v3/release"
cp "$T/sig3" "$T/v3/signature"
check "rsync a third (temporaries renamed into place)" rsync -a "$T/v3/" "$R/0.10.0-rc.1/"
expect_eq "the listing" "0.1.0 0.10.0-rc.1 0.2.0" "$(ls "$R" | xargs)"
expect_eq "a version lists its files" "release signature" "$(ls "$R/0.1.0" | xargs)"
expect_eq "the files are root's" "root:root 644" "$(stat -c '%U:%G %a' "$R/0.1.0/release")"
check "they read back" cmp "$T/r1.tar" "$R/0.1.0/release"

# ---- the publisher's documents ---------------------------------------------------------
expect_eq "versions, by precedence" '["0.1.0","0.2.0","0.10.0-rc.1"]' "$(curl -sf "$B/versions")"
expect_eq "latest" '"0.10.0-rc.1"' "$(curl -sf "$B/latest")"
expect_eq "JSON documents" "application/json" \
	"$(curl -s -o /dev/null -w '%{content_type}' "$B/versions")"
expect_eq "a VERSION document" "{\"flist\":\"0.1.0/release\",\"signature\":\"$(cat "$T/sig1")\"}" \
	"$(curl -sf "$B/0.1.0")"
expect_eq "without a signature" '{"flist":"0.2.0/release"}' "$(curl -sf "$B/0.2.0")"
expect_eq "its type" "application/json" "$(curl -s -o /dev/null -w '%{content_type}' "$B/0.2.0")"

# ---- archives ------------------------------------------------------------------------
curl -sf -o "$T/got1" "$B/0.1.0/release"
check "the archive, byte for byte" cmp "$T/r1.tar" "$T/got1"
curl -sf -o "$T/got3" "$B/0.10.0-rc.1/release"
check "another one" cmp "$T/r2.tar.gz" "$T/got3"
expect_eq "a Range: 206" "206" "$(curl -s -o "$T/part" -w '%{http_code}' -r 1000-1999 "$B/0.2.0/release")"
check "the range's bytes" cmp "$T/part" <(tail -c +1001 "$T/r2.tar.gz" | head -c 1000)
size=$(stat -c %s "$T/r2.tar.gz")
expect_eq "a Range past the end: 416" "416" "$(code -r "$size-" "$B/0.2.0/release")"
curl -sI "$B/0.2.0/release" | tr -d '\r' >"$T/head"
check "HEAD: 200" grep -q '^HTTP/1.1 200' "$T/head"
check "HEAD: the size" grep -qx "Content-Length: $size" "$T/head"
etag=$(sed -n 's/^ETag: //p' "$T/head")
check "HEAD: an ETag" test -n "$etag"
expect_eq "If-None-Match: 304" "304" "$(code -H "If-None-Match: $etag" "$B/0.2.0/release")"
expect_eq "If-Match another: 412" "412" "$(code -H 'If-Match: "other"' "$B/0.2.0/release")"
for p in 9.9.9 v0.1.0 0.1.0/signature 0.1.0/release/x 0.1.0/ bogus ""; do
	expect_eq "404: /releases/$p" "404" "$(code "$B/$p")"
done

# verify VERSION: the served signature of VERSION verifies (openssl) over the served archive.
verify() {
	curl -sf "$B/$1" >"$T/doc" && curl -sf -o "$T/arch" "$B/$1/release" || return 1
	python3 -c '
import hashlib, json, sys
d = json.load(open(sys.argv[2] + "/doc"))
assert d["flist"] == sys.argv[1] + "/release", d
open(sys.argv[2] + "/msg", "wb").write(sys.argv[1].encode() + b"\n" + hashlib.sha256(open(sys.argv[2] + "/arch", "rb").read()).digest())
open(sys.argv[2] + "/sig.bin", "wb").write(bytes.fromhex(d["signature"]))' "$1" "$T" || return 1
	openssl pkeyutl -verify -rawin -pubin -inkey "$T/k.pub.pem" -in "$T/msg" -sigfile "$T/sig.bin" >/dev/null
}
check "0.1.0's signature verifies" verify 0.1.0
check "so does 0.10.0-rc.1's" verify 0.10.0-rc.1

# ---- the rules ------------------------------------------------------------------------
expect_eq "mkdir of a name that is not a version" "EINVAL" "$(errno_of "os.mkdir('$R/not-a-version')")"
expect_eq "nor v1.0.0" "EINVAL" "$(errno_of "os.mkdir('$R/v1.0.0')")"
expect_eq "a file in releases/" "EINVAL" "$(errno_of "open('$R/notes', 'w')")"
expect_eq "another name in a version" "EINVAL" "$(errno_of "open('$R/0.1.0/README', 'w')")"
expect_eq "a directory in a version" "EINVAL" "$(errno_of "os.mkdir('$R/0.1.0/sub')")"
expect_eq "a symbolic link" "EINVAL" "$(errno_of "os.symlink('release', '$R/0.1.0/.link')")"
expect_eq "the same precedence as 0.1.0" "EEXIST" "$(errno_of "os.mkdir('$R/0.1.0+build.1')")"
check "a dot-name, then mv into place" sh -c "echo 00ff >'$R/0.2.0/.sig.tmp' && mv '$R/0.2.0/.sig.tmp' '$R/0.2.0/signature'"
expect_eq "the moved signature is served" '{"flist":"0.2.0/release","signature":"00ff"}' "$(curl -sf "$B/0.2.0")"
expect_eq "mv to another name" "EINVAL" "$(errno_of "os.rename('$R/0.2.0/signature', '$R/0.2.0/junk')")"
expect_eq "mv a version to a bad name" "EINVAL" "$(errno_of "os.rename('$R/0.2.0', '$R/latest')")"
echo "not hex" >"$R/0.2.0/signature"
expect_eq "a signature that is not hex: 500" "500" "$(code "$B/0.2.0")"
check "its message says so" sh -c "curl -s '$B/0.2.0' | grep -q 'not hex'"
check "rm it" rm "$R/0.2.0/signature"
expect_eq "unsigned again" '{"flist":"0.2.0/release"}' "$(curl -sf "$B/0.2.0")"
check "mkdir a version to remove" mkdir "$R/0.0.1"
check "cp into it" cp "$T/r1.tar" "$R/0.0.1/release"
expect_eq "it is served" '["0.0.1","0.1.0","0.2.0","0.10.0-rc.1"]' "$(curl -sf "$B/versions")"
check "rm -r a version" rm -r "$R/0.0.1"
check "it is gone" test ! -e "$R/0.0.1"
expect_eq "and no longer served" '["0.1.0","0.2.0","0.10.0-rc.1"]' "$(curl -sf "$B/versions")"
expect_eq "nor its archive" "404" "$(code "$B/0.0.1/release")"
expect_eq "releases/ itself stays" "EACCES" "$(errno_of "os.rmdir('$R')")"

# Root may change STOREDIR/releases directly: the mount shows it at once.
check "a missing version" test ! -e "$R/0.3.0"
mkdir "$STORE/releases/0.3.0"
cp "$T/r1.tar" "$STORE/releases/0.3.0/release"
check "appears once made in STOREDIR" test -f "$R/0.3.0/release"
expect_eq "and is served" '"0.10.0-rc.1"' "$(curl -sf "$B/latest")"
rm -r "$STORE/releases/0.3.0"
check "disappears once removed there" test ! -e "$R/0.3.0"

# ---- another user -------------------------------------------------------------------
expect_eq "u2 reads a release" "OK" \
	"$(errno_as "$U2" "os.listdir('$R'); os.listdir('$R/0.1.0'); open('$R/0.1.0/release', 'rb').read()")"
expect_eq "u2 cannot mkdir a version" "EACCES" "$(errno_as "$U2" "os.mkdir('$R/5.0.0')")"
expect_eq "u2 cannot create a file" "EACCES" "$(errno_as "$U2" "open('$R/0.2.0/signature', 'w')")"
expect_eq "u2 cannot write a release" "EACCES" "$(errno_as "$U2" "open('$R/0.1.0/release', 'r+b')")"
expect_eq "u2 cannot remove a file" "EACCES" "$(errno_as "$U2" "os.unlink('$R/0.1.0/signature')")"
expect_eq "u2 cannot remove a version" "EACCES" "$(errno_as "$U2" "os.rmdir('$R/0.2.0')")"
expect_eq "u2 cannot rename" "EACCES" "$(errno_as "$U2" "os.rename('$R/0.2.0', '$R/0.2.1')")"
check "all still there" test -f "$R/0.1.0/signature" -a -d "$R/0.2.0"

# ---- backup ---------------------------------------------------------------------
check "cp -a backup/" cp -a "$MNT/backup" "$T/copy"
check "the copy holds releases/" cmp "$T/r1.tar" "$T/copy/releases/0.1.0/release"
check "with the signatures" cmp "$T/sig1" "$T/copy/releases/0.1.0/signature"
check "and every version" test -f "$T/copy/releases/0.10.0-rc.1/release" -a -f "$T/copy/releases/0.2.0/release"

# ---- a second charmfs follows the first ---------------------------------------------
start_daemon2 -o "upgrade_url=$B,upgrade_key=$T/k.pub.pem"
U=$MNT2/upgrade
expect_eq "the second one checks the first" "ok 0.10.0-rc.1" "$(ctl_rw "$U/ctl" check)"
expect_eq "its latest" "0.10.0-rc.1" "$(cat "$U/latest")"
expect_eq "its versions" "$(printf '0.1.0\n0.2.0\n0.10.0-rc.1')" "$(cat "$U/versions")"
expect_eq "its status" "idle" "$(cat "$U/status")"
check "the first one removes its latest" rm -r "$R/0.10.0-rc.1"
expect_eq "a check again" "ok 0.2.0" "$(ctl_rw "$U/ctl" check)"
expect_eq "the new latest" "0.2.0" "$(cat "$U/latest")"
expect_eq "the new versions" "$(printf '0.1.0\n0.2.0')" "$(cat "$U/versions")"
stop_daemon2

finish
