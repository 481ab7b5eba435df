#!/bin/bash
# Publishing with real tools (SPEC §4.2): zip -r and rsync write a temporary
# name and rename it, curl -o writes the name directly. Each publishes a good
# archive without spurious events and exits non-zero on a bad one.
. "$SRCDIR/tests/mount/lib.sh"

HTTPPID=
trap '[ -n "$HTTPPID" ] && kill "$HTTPPID" 2>/dev/null; cleanup' EXIT

# published_once WHAT N URL REV: exactly one event since N, a published one
# for URL at REV, and the revision directory exists.
published_once() {
	local what=$1 n=$2 url=$3 rev=$4 ev
	ev=$(events_since "$n")
	if [ "$(printf '%s\n' "$ev" | grep -c .)" != 1 ]; then
		fail "$what: expected exactly one new event, got: $ev"
	else
		expect_eq "$what: event" "published $url $rev" "$(json_field "$ev" 'd["kind"] + " " + " ".join(d["urls"]) + " " + str(d.get("revision"))')"
	fi
}

# refused WHAT N: exactly one publish-error event since N.
refused() {
	local ev
	ev=$(events_since "$2")
	if [ "$(printf '%s\n' "$ev" | grep -c .)" != 1 ]; then
		fail "$1: expected exactly one new event, got: $ev"
	else
		expect_eq "$1: event kind" "publish-error" "$(json_field "$ev" 'd["kind"]')"
	fi
}

start_daemon
P=$MNT/publish/trusty

# --- zip -r -------------------------------------------------------------------------
copy_charm haproxy "$T/haproxy"
n=$(event_count)
check "zip -r into publish/" sh -c "cd '$T/haproxy' && zip -qry '$P/haproxy.charm' ."
check "zip -r made revision 0" test -d "$MNT/charms/trusty/haproxy/0"
published_once "zip -r" "$n" cs:trusty/haproxy 0
expect_eq "zip left only its archive in publish/trusty" "haproxy.charm" "$(ls -A "$P" | xargs)"
check "the archive in publish/ is the one zip wrote" sh -c "unzip -tq '$P/haproxy.charm' >/dev/null"
check "files/ has the charm" cmp -s "$T/haproxy/hooks/install" "$MNT/charms/trusty/haproxy/0/files/hooks/install"
expect_eq "zip -y kept the symlinks" "../lib/relation.sh" "$(readlink "$MNT/charms/trusty/haproxy/0/files/hooks/reverseproxy-relation-joined")"

# zip updating the archive in place (it reads the old one back, writes a
# temporary file and renames it) publishes the change.
echo "# tuned" >>"$T/haproxy/lib/common.sh"
n=$(event_count)
check "zip -r update of the published file" sh -c "cd '$T/haproxy' && zip -qry '$P/haproxy.charm' ."
published_once "zip -r update" "$n" cs:trusty/haproxy 1
check "the update is in revision 1" cmp -s "$T/haproxy/lib/common.sh" "$MNT/charms/trusty/haproxy/1/files/lib/common.sh"

# A fresh zip of the unchanged directory is redundant.
rm -f "$P/haproxy.charm"
n=$(event_count)
check "fresh zip -r of an unchanged directory fails" sh -c "! (cd '$T/haproxy' && zip -qry '$P/haproxy.charm' . >/dev/null 2>&1)"
check "no revision 2" test ! -e "$MNT/charms/trusty/haproxy/2"

# A bad charm directory: zip exits non-zero.
copy_charm haproxy "$T/bad"
sed -i 's/^name: haproxy$/name: not-haproxy/' "$T/bad/metadata.yaml"
rm -f "$P/haproxy.charm"
n=$(event_count)
before=$(store_state)
check "zip -r of a bad charm exits non-zero" sh -c "! (cd '$T/bad' && zip -qry '$P/haproxy.charm' . >/dev/null 2>&1)"
refused "zip -r of a bad charm" "$n"
expect_eq "zip -r of a bad charm stores nothing" "$before" "$(store_state)"

# --- rsync --------------------------------------------------------------------------
make_charm wordpress "$T/wp.charm"
n=$(event_count)
check "rsync of an archive" rsync "$T/wp.charm" "$P/wordpress.charm"
check "rsync made revision 0" test -d "$MNT/charms/trusty/wordpress/0"
published_once "rsync" "$n" cs:trusty/wordpress 0
expect_eq "sha256 of what rsync wrote" "$(sha256sum <"$T/wp.charm" | cut -d' ' -f1)" "$(sha256sum <"$P/wordpress.charm" | cut -d' ' -f1)"
expect_eq "rsync left no temporary file" "wordpress.charm" "$(ls -A "$P" | grep wordpress | xargs)"

copy_charm wordpress "$T/wp2"
echo again >>"$T/wp2/README.md"
make_charm wordpress "$T/wp2.charm" "$T/wp2"
n=$(event_count)
check "rsync -a into the series directory" rsync -a "$T/wp2.charm" "$MNT/publish/precise/wordpress.charm"
published_once "rsync -a" "$n" cs:precise/wordpress 0

head -c 3000 /dev/urandom >"$T/garbage.charm"
n=$(event_count)
before=$(store_state)
check "rsync of a bad archive exits non-zero" sh -c "! rsync '$T/garbage.charm' '$P/wordpress.charm' 2>/dev/null"
refused "rsync of a bad archive" "$n"
expect_eq "rsync of a bad archive stores nothing" "$before" "$(store_state)"

# --- curl -o --------------------------------------------------------------------------
mkdir -p "$T/www"
make_charm mysql "$T/www/mysql.charm"
cp "$T/garbage.charm" "$T/www/garbage.charm"
PORT=$(free_port)
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$PORT") >"$T/http.log" 2>&1 &
HTTPPID=$!
up=0
for i in $(seq 1 100); do
	if curl -sf -o /dev/null "http://127.0.0.1:$PORT/mysql.charm"; then up=1; break; fi
	sleep 0.1
done
check "local HTTP server is up" test $up = 1
n=$(event_count)
check "curl -o publishes" curl -sSf -o "$P/mysql.charm" "http://127.0.0.1:$PORT/mysql.charm"
check "curl made revision 0" test -d "$MNT/charms/trusty/mysql/0"
published_once "curl -o" "$n" cs:trusty/mysql 0
n=$(event_count)
before=$(store_state)
check "curl -o of a bad archive exits non-zero" sh -c "! curl -sSf -o '$P/mysql.charm' 'http://127.0.0.1:$PORT/garbage.charm' 2>/dev/null"
refused "curl -o of a bad archive" "$n"
expect_eq "curl -o of a bad archive stores nothing" "$before" "$(store_state)"
n=$(event_count)
check "curl -o of the same archive again exits non-zero" sh -c "! curl -sSf -o '$P/mysql.charm' 'http://127.0.0.1:$PORT/mysql.charm' 2>/dev/null"
kill "$HTTPPID"
wait "$HTTPPID" 2>/dev/null
HTTPPID=

# --- copying a published archive back -------------------------------------------------
before=$(store_state)
expect_errno "cp of a published archive.charm back" "File exists" cp "$MNT/charms/trusty/wordpress/0/archive.charm" "$P/wordpress.charm"
expect_errno "cp of latest/archive.charm back" "File exists" cp "$MNT/charms/trusty/haproxy/latest/archive.charm" "$P/haproxy.charm"
check "rsync of a published archive back exits non-zero" sh -c "! rsync '$MNT/charms/trusty/mysql/0/archive.charm' '$P/mysql.charm' 2>/dev/null"
expect_eq "copies back store nothing" "$before" "$(store_state)"

check "daemon still running" daemon_alive
finish
