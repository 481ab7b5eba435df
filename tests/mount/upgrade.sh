#!/bin/bash
# upgrade/ (SPEC §4.9), its first part: checking a release publisher. With
# -o upgrade_url, `echo check > upgrade/ctl` reads the publisher's versions
# and latest (a static file server) and shows them; a publisher that returns
# garbage, a 404, a redirect loop, that stalls or that is down leaves its error in
# `status` and changes nothing else; without upgrade_url a check is refused;
# without upgrade_key the daemon warns that releases would not be verified,
# and a bad key is a start-up error that creates nothing. Modes, and a
# second user's EACCES on ctl.
. "$SRCDIR/tests/mount/lib.sh"

U2=charmfs-u2
need_user "$U2"
chmod 0755 "$T"

mkdir -p "$T/pub"
echo '["0.1.0", "0.2.0"]' >"$T/pub/versions"
echo '"0.2.0"' >"$T/pub/latest"
serve pub static "$T/pub"
U=$MNT/upgrade

start_daemon -o allow_other,default_permissions,upgrade_url=http://127.0.0.1:$PORT_pub/
check "a warning that releases are not verified" grep -q "would not be verified" "$LOG"
expect_eq "upgrade/ lists" "ctl current history latest releases status versions" "$(ls "$U" | xargs)"
expect_eq "current before any release" "0.0.0" "$(cat "$U/current")"
expect_eq "status" "idle" "$(cat "$U/status")"
expect_eq "latest before a check" "" "$(cat "$U/latest")"
expect_eq "check" "ok 0.2.0" "$(ctl_rw "$U/ctl" check)"
expect_eq "latest" "0.2.0" "$(cat "$U/latest")"
expect_eq "versions" "$(printf '0.1.0\n0.2.0')" "$(cat "$U/versions")"
expect_eq "status after a check" "idle" "$(cat "$U/status")"
expect_eq "current is unchanged" "0.0.0" "$(cat "$U/current")"
expect_eq "ctl is root's alone" "root:root 600" "$(stat -c '%U:%G %a' "$U/ctl")"
expect_eq "the files are anyone's to read" "root:root 444" "$(stat -c '%U:%G %a' "$U/status")"
expect_eq "u2 reads the status" "OK" "$(errno_as "$U2" "open('$U/status').read()")"
expect_eq "u2 cannot check" "EACCES" "$(errno_as "$U2" "open('$U/ctl', 'w')")"
expect_eq "an unknown request" "EINVAL" "$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'upgrade now\n')")"
check "sizes match what a read returns" sh -c "for f in '$U'/*; do [ \"\$(stat -c %s \"\$f\")\" = \"\$(wc -c <\"\$f\")\" ] || [ \"\${f##*/}\" = ctl ] || [ -d \"\$f\" ] || exit 1; done"

# failed_check WHAT: a check fails, its error is in status, and latest and versions stay.
failed_check() {
	local reply
	reply=$(ctl_rw "$U/ctl" check)
	case $reply in "error "*) pass ;; *) fail "$1: check replied [$reply]" ;; esac
	case $(cat "$U/status") in "error: "*) pass ;; *) fail "$1: status [$(cat "$U/status")]" ;; esac
	expect_eq "$1: latest stays" "0.2.0" "$(cat "$U/latest")"
	expect_eq "$1: versions stay" "$(printf '0.1.0\n0.2.0')" "$(cat "$U/versions")"
}
echo 'this is not json' >"$T/pub/versions"
failed_check "garbage versions"
echo '["0.1.0", "0.2.0", "0.3.0"]' >"$T/pub/versions"
rm "$T/pub/latest"
failed_check "a 404"
check "the status names the 404" grep -q 404 "$U/status"
echo '"0.3.0"' >"$T/pub/latest"
expect_eq "a good check again" "ok 0.3.0" "$(ctl_rw "$U/ctl" check)"
expect_eq "status is idle again" "idle" "$(cat "$U/status")"
echo '"0.2.0"' >"$T/pub/latest"
echo '["0.1.0", "0.2.0"]' >"$T/pub/versions"
check "and back" test "$(ctl_rw "$U/ctl" check)" = "ok 0.2.0"
eval "kill \$SRVPID_pub"
for _ in $(seq 400); do curl -s -o /dev/null "http://127.0.0.1:$PORT_pub/" || break; sleep 0.025; done
failed_check "the publisher is down"
expect_eq "write-only, a failed check is its errno" "ECONNREFUSED" \
	"$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'check\n')")"
stop_daemon

serve loop redirect-loop
start_daemon -o upgrade_url=http://127.0.0.1:$PORT_loop/
expect_eq "the store kept the last check" "0.2.0" "$(cat "$U/latest")"
failed_check "a redirect loop"
check "the status says so" grep -qi redirect "$U/status"
stop_daemon

# A publisher that stalls: the check gives up after its timeout (30 s).
serve stall stall
start_daemon -o upgrade_url=http://127.0.0.1:$PORT_stall/
failed_check "a stalled publisher"
check "the status says it timed out" grep -qi "timed out\|timeout" "$U/status"
stop_daemon

start_daemon
expect_eq "without upgrade_url a check is refused" "ENOENT" \
	"$(errno_of "fd = os.open('$U/ctl', os.O_WRONLY); os.write(fd, b'check\n')")"
stop_daemon

# A bad upgrade_key is a start-up error that creates nothing.
echo "not a key" >"$T/bad.pem"
"$CHARMFS" -f -o upgrade_url=http://127.0.0.1:1/,upgrade_key="$T/bad.pem" "$T/newstore" "$MNT" 2>"$T/err"
expect_eq "a bad key: exit 1" "1" "$?"
check "it names upgrade_key" grep -q upgrade_key "$T/err"
check "and creates no store" test ! -e "$T/newstore"
"$CHARMFS" --keygen "$T/k" >/dev/null
warned=$(grep -c 'would not be verified' "$LOG")
start_daemon -o upgrade_url=http://127.0.0.1:1/,upgrade_key="$T/k.pub.pem"
expect_eq "with a key, no warning" "$warned" "$(grep -c 'would not be verified' "$LOG")"

finish
