#!/bin/bash
# upgrade/ (SPEC §4.9): applying signed releases, whole or not at all.
# A publisher (a static file server over a directory this test writes)
# offers releases signed with `charmfs --sign-release`; each holds charms,
# packages.json and migrate/ scripts. 0.1.0, then 0.2.0 and 0.3.0 in one
# apply; a tampered archive, another key's signature and a missing one are
# refused with nothing of them in the store; a migrate/post that fails
# rolls back the charms it published and the package it changed (whose
# hooks run again); kill -9 during a download and during an apply; TLS
# with and without upgrade_ca; the watcher announces and applies; a second
# daemon follows the first one's /releases/.
. "$SRCDIR/tests/mount/lib.sh"

U2=charmfs-u2
need_user "$U2"
chmod 0755 "$T"

"$CHARMFS" --keygen "$T/key" >/dev/null || fail "keygen"
"$CHARMFS" --keygen "$T/other" >/dev/null || fail "keygen of another key"

# The svc charm: its hooks record their order and the motd setting they see.
mkdir -p "$T/svc/hooks"
cat >"$T/svc/metadata.yaml" <<'YAML'
name: svc
summary: a service a release deploys
description: Records its hooks.
YAML
cat >"$T/svc/config.yaml" <<'YAML'
options:
  motd:
    type: string
    default: none
    description: the message of the day
YAML
cat >"$T/svc/hooks/install" <<'HOOK'
#!/bin/sh
echo "$JUJU_HOOK_NAME" >>"$CHARMFS_STATE_DIR/order"
config-get motd >"$CHARMFS_STATE_DIR/motd"
[ "$(cat "$CHARMFS_STATE_DIR/motd")" != fail ]
HOOK
chmod 0755 "$T/svc/hooks/install"
for h in config-changed start stop upgrade-charm remove; do ln -s install "$T/svc/hooks/$h"; done
mkdir -p "$T/extra"
printf 'name: extra\nsummary: a second charm\ndescription: Only published.\n' >"$T/extra/metadata.yaml"

# Event hooks record the upgrade events.
for ev in upgrade-applied upgrade-failed upgrade-available; do
	mkdir -p "$T/evhook"
	cat >"$T/evhook/$ev" <<HOOK
#!/bin/sh
echo "\$CHARMFS_VERSION \$CHARMFS_ERROR" >>"$T/$ev.log"
HOOK
	chmod 0755 "$T/evhook/$ev"
done

mkdir -p "$T/pub"
serve pub static "$T/pub"
BASE=http://127.0.0.1:$PORT_pub

# publish_versions LATEST V...: the publisher's versions and latest documents.
publish_versions() {
	local latest=$1 list
	shift
	list=$(printf '"%s",' "$@")
	echo "[${list%,}]" >"$T/pub/versions"
	echo "\"$latest\"" >"$T/pub/latest"
}

# release VERSION README MOTD [post-exit]: builds the release archive (svc with that
# README, extra, packages.json setting web to svc-REV with MOTD, a migrate/post that
# records the version and exits post-exit) as VERSION.tar, signs it, writes BASE/VERSION.
release() {
	local v=$1 readme=$2 motd=$3 code=${4:-0} d=$T/rel-$1 rev
	rev=$(($2 - 1))
	rm -rf "$d" && mkdir -p "$d/charms/trusty" "$d/migrate"
	echo "readme $readme" >"$T/svc/README.md"
	(cd "$T/svc" && zip -qry "$d/charms/trusty/svc.charm" .)
	echo "extra for $v" >"$T/extra/README.md"
	(cd "$T/extra" && zip -qry "$d/charms/trusty/extra.charm" .)
	echo "{\"web\": {\"version\": \"cs:trusty/svc-$rev\", \"settings\": {\"motd\": \"$motd\"}}}" >"$d/packages.json"
	printf '#!/bin/sh\necho "$CHARMFS_MIGRATE $CHARMFS_VERSION from $CHARMFS_FROM_VERSION" >>%s\nexit %s\n' \
		"$T/migrated" "$code" >"$d/migrate/post"
	chmod 0755 "$d/migrate/post"
	(cd "$d" && tar -cf "$T/pub/$v.tar" charms packages.json migrate)
	sig=$("$CHARMFS" --sign-release "$T/key.pem" "$T/pub/$v.tar" "$v")
	echo "{\"flist\": \"$v.tar\", \"signature\": \"$sig\"}" >"$T/pub/$v"
}

# revs NAME: the revisions of cs:trusty/NAME, ascending.
revs() {
	ls "$MNT/charms/trusty/$1" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | xargs
}

U=$MNT/upgrade
OPTS=allow_other,default_permissions,upgrade_url=$BASE,upgrade_key=$T/key.pub.pem
start_daemon -o "$OPTS"
for ev in upgrade-applied upgrade-failed upgrade-available; do
	cp "$T/evhook/$ev" "$MNT/hooks/$ev/10-record"
done
expect_eq "history before any release" "" "$(cat "$U/history")"
expect_eq "history is anyone's to read" "root:root 444" "$(stat -c '%U:%G %a' "$U/history")"

# ---- 0.1.0, then 0.2.0 and 0.3.0 in one apply ------------------------------------------
release 0.1.0 1 one
release 0.2.0 2 two
release 0.3.0 3 three
publish_versions 0.1.0 0.1.0
reply=$(ctl_rw "$U/ctl" apply)
case $reply in "ok "[0-9]*) pass ;; *) fail "apply replied [$reply]" ;; esac
check "settle after 0.1.0" settle
expect_eq "current" "0.1.0" "$(cat "$U/current")"
expect_eq "status" "idle" "$(cat "$U/status")"
expect_eq "its charms are published" "0" "$(revs svc)"
check "and the second one" test -d "$MNT/charms/trusty/extra/0"
expect_eq "its package is deployed" "cs:trusty/svc-0" "$(cat "$MNT/packages/web/version")"
expect_eq "with its hooks run" "install config-changed start" "$(xargs <"$STORE/packages/web/state/order")"
expect_eq "and its settings" "one" "$(cat "$STORE/packages/web/state/motd")"
expect_eq "migrate/post ran" "post 0.1.0 from 0.0.0" "$(cat "$T/migrated")"
id=$(newest_change upgrade)
expect_eq "one change" "Upgrade to 0.1.0" "$(cat "$MNT/changes/$id/summary")"
expect_eq "its status" "Done" "$(cat "$MNT/changes/$id/status")"
expect_eq "its tasks" "upgrade-fetch upgrade-pre upgrade-publish upgrade-packages upgrade-post upgrade-commit" \
	"$(for t in $(ls "$MNT/changes/$id/tasks" | sort -n); do cat "$MNT/changes/$id/tasks/$t/kind"; done | xargs)"
check "upgrade-applied fired" grep -qx "0.1.0 " "$T/upgrade-applied.log"

: >"$T/migrated"
publish_versions 0.3.0 0.1.0 0.2.0 0.3.0
first=$(ctl_rw "$U/ctl" apply)
check "settle after 0.3.0" settle
expect_eq "current" "0.3.0" "$(cat "$U/current")"
expect_eq "history lists all three, oldest first" "0.1.0 0.2.0 0.3.0" "$(cut -d' ' -f1 "$U/history" | xargs)"
check "with times" grep -Eq '^0\.3\.0 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$U/history"
expect_eq "both applied in order" "post 0.2.0 from 0.1.0 post 0.3.0 from 0.2.0" "$(xargs <"$T/migrated")"
expect_eq "one change each" "Upgrade to 0.2.0" "$(cat "$MNT/changes/${first#ok }/summary")"
expect_eq "the last one" "Upgrade to 0.3.0" "$(cat "$MNT/changes/$(newest_change upgrade)/summary")"
expect_eq "each published its charm" "0 1 2" "$(revs svc)"
expect_eq "the package follows" "cs:trusty/svc-2" "$(cat "$MNT/packages/web/version")"
expect_eq "with the last settings" "three" "$(cat "$STORE/packages/web/state/motd")"
expect_eq "events" "0.1.0 0.2.0 0.3.0" "$(cut -d' ' -f1 "$T/upgrade-applied.log" | xargs)"
expect_eq "nothing more to apply" "ok" "$(ctl_rw "$U/ctl" apply)"
expect_eq "apply of the current version" "EINVAL" \
	"$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'apply 0.3.0\n')")"
expect_eq "the reply says why" "error 0.2.0 is not greater than the current version 0.3.0" "$(ctl_rw "$U/ctl" "apply 0.2.0")"
expect_eq "apply of an unpublished version" "ENOENT" \
	"$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'apply 9.9.9\n')")"
expect_eq "u2 cannot apply" "EACCES" "$(errno_as "$U2" "open('$U/ctl', 'w')")"
expect_eq "u2 reads the history" "OK" "$(errno_as "$U2" "open('$U/history').read()")"

# ---- refused releases: nothing of them is in the store --------------------------------
# refused WHAT PATTERN: apply 0.4.0 is refused, with PATTERN in the status and the event.
refused() {
	: >"$T/upgrade-failed.log"
	ctl_rw "$U/ctl" apply >/dev/null
	check "$1: settle" settle
	expect_eq "$1: current stays" "0.3.0" "$(cat "$U/current")"
	check "$1: the status says why" grep -q "$2" "$U/status"
	check "$1: upgrade-failed fired" grep -q "^0.4.0 .*$2" "$T/upgrade-failed.log"
	expect_eq "$1: no revision of it" "0 1 2" "$(revs svc)"
	expect_eq "$1: the package stays" "cs:trusty/svc-2" "$(cat "$MNT/packages/web/version")"
	expect_eq "$1: its change failed" "Error" "$(cat "$MNT/changes/$(newest_change upgrade)/status")"
	check "$1: its work is gone" test ! -e "$STORE/run/upgrade/0.4.0"
}
release 0.4.0 4 four
publish_versions 0.4.0 0.1.0 0.2.0 0.3.0 0.4.0
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 3] ^= 1; open(p, "wb").write(b)' "$T/pub/0.4.0.tar"
refused "a tampered archive" "does not verify"
release 0.4.0 4 four
sig=$("$CHARMFS" --sign-release "$T/other.pem" "$T/pub/0.4.0.tar" 0.4.0)
echo "{\"flist\": \"0.4.0.tar\", \"signature\": \"$sig\"}" >"$T/pub/0.4.0"
refused "another key's signature" "does not verify"
sig=$("$CHARMFS" --sign-release "$T/key.pem" "$T/pub/0.4.0.tar" 0.3.0)
echo "{\"flist\": \"0.4.0.tar\", \"signature\": \"$sig\"}" >"$T/pub/0.4.0"
refused "an old version's signature replayed" "does not verify"
echo '{"flist": "0.4.0.tar"}' >"$T/pub/0.4.0"
refused "a missing signature" "missing signature"

# ---- migrate/post fails: what the version did is rolled back --------------------------
: >"$STORE/packages/web/state/order"
release 0.4.0 4 four 1
refused "migrate/post exits 1" "migrate/post failed"
check "the package's hooks ran again" grep -q upgrade-charm "$STORE/packages/web/state/order"
expect_eq "with its old settings" "three" "$(cat "$STORE/packages/web/state/motd")"
expect_eq "the settings file too" "three" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["motd"])' "$MNT/packages/web/settings")"
check "the charm it published is gone" test ! -e "$MNT/charms/trusty/svc/3"
check "the tasks were undone" grep -q "Undone" "$MNT/changes/$(newest_change upgrade)/tasks/"*/status
echo "readme 5" >"$T/svc/README.md"
(cd "$T/svc" && rm -f "$T/svc5.charm" && zip -qry "$T/svc5.charm" .)
cp "$T/svc5.charm" "$MNT/publish/trusty/svc.charm"
expect_eq "its revision number is not reused" "0 1 2 4" "$(revs svc)"

# ---- kill -9 during a download, then remount: it is applied whole ---------------------
serve stall stall
# The publisher withdraws the broken 0.4.0 (it would be applied before 0.5.0).
release 0.5.0 6 five
publish_versions 0.5.0 0.1.0 0.2.0 0.3.0 0.5.0
good=$(cat "$T/pub/0.5.0")
echo "{\"flist\": \"http://127.0.0.1:$PORT_stall/0.5.0.tar\", \"signature\": \"$sig\"}" >"$T/pub/0.5.0"
: >"$T/migrated"
ctl_rw "$U/ctl" "apply 0.5.0" >/dev/null
check "the download is running" wait_for_grep "$U/status" "downloading"
kill_daemon
echo "$good" >"$T/pub/0.5.0"
start_daemon -o "$OPTS"
check "settle after the remount" settle
expect_eq "0.5.0 is applied whole" "0.5.0" "$(cat "$U/current")"
expect_eq "its post ran once" "post 0.5.0 from 0.3.0" "$(xargs <"$T/migrated")"
expect_eq "its package" "cs:trusty/svc-5" "$(cat "$MNT/packages/web/version")"

# ---- kill -9 during an apply (migrate/pre holds), then remount -------------------------
release 0.6.0 7 six
d=$T/rel-0.6.0
printf '#!/bin/sh\necho $$ >%s\nwhile [ -e %s ]; do sleep 0.05; done\n' "$T/pre.pid" "$T/hold-pre" >"$d/migrate/pre"
chmod 0755 "$d/migrate/pre"
(cd "$d" && tar -cf "$T/pub/0.6.0.tar" charms packages.json migrate)
sig=$("$CHARMFS" --sign-release "$T/key.pem" "$T/pub/0.6.0.tar" 0.6.0)
echo "{\"flist\": \"0.6.0.tar\", \"signature\": \"$sig\"}" >"$T/pub/0.6.0"
publish_versions 0.6.0 0.1.0 0.2.0 0.3.0 0.5.0 0.6.0
touch "$T/hold-pre"
rm -f "$T/pre.pid"
ctl_rw "$U/ctl" apply >/dev/null
for _ in $(seq 400); do [ -s "$T/pre.pid" ] && break; sleep 0.025; done
check "migrate/pre is running" test -s "$T/pre.pid"
expect_eq "the status says what is applied" "applying 0.6.0" "$(cat "$U/status")"
expect_eq "a second apply meanwhile is busy" "EBUSY" \
	"$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'apply\n')")"
kill_daemon
old=$(cat "$T/pre.pid")
start_daemon -o "$OPTS"
expect_eq "nothing of 0.6.0 is current yet" "0.5.0" "$(cat "$U/current")"
for _ in $(seq 400); do [ "$(cat "$T/pre.pid")" != "$old" ] && break; sleep 0.025; done
check "the remount killed the old migrate/pre" sh -c "! kill -0 $old 2>/dev/null || ps -o stat= -p $old | grep -q Z"
rm -f "$T/hold-pre"
check "settle after the remount" settle
expect_eq "0.6.0 is applied whole" "0.6.0" "$(cat "$U/current")"
expect_eq "its charm" "6" "$(revs svc | tr ' ' '\n' | tail -n1)"
expect_eq "check works again" "ok 0.6.0" "$(ctl_rw "$U/ctl" check)"
stop_daemon

# ---- TLS: refused without the CA, applied with it ------------------------------------
(cd "$T" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout ca.key -out ca.pem -days 2 -subj /CN=charmfs-test-ca 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >srv.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out srv.pem -days 2 -extfile srv.ext 2>/dev/null) || fail "making a certificate"
release 0.7.0 8 seven
publish_versions 0.7.0 0.6.0 0.7.0
serve tls tls "$T/pub" "$T/srv.pem" "$T/srv.key"
TLSOPTS=allow_other,default_permissions,upgrade_url=https://127.0.0.1:$PORT_tls/,upgrade_key=$T/key.pub.pem
start_daemon -o "$TLSOPTS"
reply=$(ctl_rw "$U/ctl" apply)
case $reply in "error "*) pass ;; *) fail "TLS without the CA: apply replied [$reply]" ;; esac
check "the status names the certificate" grep -qi "certificate\|verif" "$U/status"
expect_eq "nothing applied" "0.6.0" "$(cat "$U/current")"
stop_daemon
start_daemon -o "$TLSOPTS,upgrade_ca=$T/ca.pem"
reply=$(ctl_rw "$U/ctl" apply)
case $reply in "ok "[0-9]*) pass ;; *) fail "TLS with the CA: apply replied [$reply]" ;; esac
check "settle" settle
expect_eq "applied over TLS" "0.7.0" "$(cat "$U/current")"
stop_daemon

# ---- the watcher: announces a strictly greater version once, applies it with upgrade_auto
: >"$T/upgrade-available.log"
start_daemon -o "$OPTS,upgrade_interval=1"
release 0.8.0 9 eight
publish_versions 0.8.0 0.7.0 0.8.0
check "upgrade-available fired" wait_for_grep "$T/upgrade-available.log" "0.8.0"
w=$(newest_change watch-releases)
expect_eq "the watcher is a change" "Watch the release publisher" "$(cat "$MNT/changes/$w/summary")"
expect_eq "that runs on" "Doing" "$(cat "$MNT/changes/$w/status")"
expect_eq "and that settle does not wait for" "ok" "$(ctl_rw "$MNT/changes/ctl" "settle 5")"
ctl_rw "$U/ctl" check >/dev/null
ctl_rw "$U/ctl" check >/dev/null
check "settle" settle
expect_eq "only once" "1" "$(grep -c . "$T/upgrade-available.log")"
expect_eq "and not applied" "0.7.0" "$(cat "$U/current")"
stop_daemon
start_daemon -o "$OPTS,upgrade_interval=1,upgrade_auto=1"
expect_eq "the last daemon's watcher ended" "Done" "$(cat "$MNT/changes/$w/status")"
for _ in $(seq 600); do [ "$(cat "$U/current")" = 0.8.0 ] && break; sleep 0.05; done
check "settle" settle
expect_eq "upgrade_auto applied it" "0.8.0" "$(cat "$U/current")"
stop_daemon

# ---- a package's hook fails: the packages task puts them back itself --------------------
start_daemon -o "$OPTS"
: >"$STORE/packages/web/state/order"
: >"$T/upgrade-failed.log"
release 0.9.0 10 fail
publish_versions 0.9.0 0.8.0 0.9.0
ctl_rw "$U/ctl" apply >/dev/null
check "settle" settle
expect_eq "current stays" "0.8.0" "$(cat "$U/current")"
expect_eq "the package is back on its version" "cs:trusty/svc-8" "$(cat "$MNT/packages/web/version")"
# upgrade-charm failed, so svc-8 is still what is installed: the retry runs config-changed and start.
expect_eq "its hooks ran for the release, then again" "upgrade-charm config-changed start" \
	"$(xargs <"$STORE/packages/web/state/order")"
expect_eq "with its settings" "eight" "$(cat "$STORE/packages/web/state/motd")"
expect_eq "and its last change succeeded" "Done" "$(cat "$MNT/packages/web/change/status")"
check "the charm the release published is gone" test ! -e "$MNT/charms/trusty/svc/9"
check "upgrade-failed names the package" grep -q "^0.9.0 .*package web" "$T/upgrade-failed.log"
stop_daemon

start_daemon -o "$OPTS,upgrade_interval=1"
eval "kill \$SRVPID_pub"
for _ in $(seq 400); do curl -s -o /dev/null "$BASE/" || break; sleep 0.025; done
check "a publisher that is down is an error in status" wait_for_grep "$U/status" "error: "
check "and in the log" grep -q "upgrade check of .* failed" "$LOG"
expect_eq "nothing else changes" "0.8.0" "$(cat "$U/current")"
stop_daemon

# ---- two daemons: B's publisher is A's /releases/, and B follows A ----------------------
trap 'stop_daemon2; cleanup' EXIT
PORT_A=$(free_port)
start_daemon -o "$OPTS,http=127.0.0.1:$PORT_A"
# serve_release V: A serves $T/pub/V.tar with its signature.
serve_release() {
	mkdir "$U/releases/$1" &&
		"$CHARMFS" --sign-release "$T/key.pem" "$T/pub/$1.tar" "$1" >"$U/releases/$1/signature" &&
		cp "$T/pub/$1.tar" "$U/releases/$1/.release.tmp" &&
		mv "$U/releases/$1/.release.tmp" "$U/releases/$1/release"
}
release 0.1.0 1 one
release 0.2.0 2 two
check "A serves 0.1.0" serve_release 0.1.0
check "A serves 0.2.0" serve_release 0.2.0
start_daemon2 -o "upgrade_url=http://127.0.0.1:$PORT_A/releases,upgrade_key=$T/key.pub.pem,upgrade_interval=1,upgrade_auto=1"
for _ in $(seq 600); do [ "$(cat "$MNT2/upgrade/current")" = 0.2.0 ] && break; sleep 0.05; done
expect_eq "B settles" "ok" "$(ctl_rw "$MNT2/changes/ctl" "settle 60")"
expect_eq "B applied what A serves" "0.2.0" "$(cat "$MNT2/upgrade/current")"
expect_eq "B's history" "0.1.0 0.2.0" "$(cut -d' ' -f1 "$MNT2/upgrade/history" | xargs)"
expect_eq "B has the charms" "0 1" "$(ls "$MNT2/charms/trusty/svc" | grep -E '^[0-9]+$' | sort -n | xargs)"
expect_eq "and the package" "cs:trusty/svc-1" "$(cat "$MNT2/packages/web/version")"
release 0.3.0 3 three
check "A serves 0.3.0" serve_release 0.3.0
for _ in $(seq 600); do [ "$(cat "$MNT2/upgrade/current")" = 0.3.0 ] && break; sleep 0.05; done
expect_eq "B follows A to 0.3.0" "0.3.0" "$(cat "$MNT2/upgrade/current")"
expect_eq "B settles again" "ok" "$(ctl_rw "$MNT2/changes/ctl" "settle 60")"
expect_eq "with the package" "cs:trusty/svc-2" "$(cat "$MNT2/packages/web/version")"
stop_daemon2

finish
