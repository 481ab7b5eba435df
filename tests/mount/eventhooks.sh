#!/bin/bash
# Event hooks (SPEC §4.7) through the mount: hooks copied into
# hooks/EVENT/ and hooks/any/ run on the event in name order, any/ last,
# with the event's JSON on stdin and its facts as CHARMFS_* variables; the
# first failure stops the run and names the hook in the change's err; each
# hook's state directory survives runs and a restart; the call that fired
# the event never waits for its hooks; no hook, no change; a second user
# may not write hooks/.
. "$SRCDIR/tests/mount/lib.sh"

U2=charmfs-u2
need_user "$U2"
chmod 0755 "$T"
start_daemon -o allow_other,default_permissions

# A hook that records its run: its name in order, stdin, environment, a run count in its state.
cat >"$T/hook" <<HOOK
#!/bin/sh
n=\$(basename "\$0")
echo "\$n" >>"$T/order"
cat >"$T/\$n.json"
env >"$T/\$n.env"
c=\$(cat "\$CHARMFS_STATE_DIR/count" 2>/dev/null || echo 0)
echo \$((c + 1)) >"\$CHARMFS_STATE_DIR/count"
[ -e "$T/fail-\$n" ] && exit 3
exit 0
HOOK
chmod 0755 "$T/hook"

H=$MNT/hooks
expect_eq "hooks/ lists every event and any" \
	"any charm-deleted charm-publish-error charm-published lock-expired package-changed package-error upgrade-applied upgrade-available upgrade-failed" \
	"$(ls "$H" | tr '\n' ' ' | sed 's/ $//')"
check "cp 10-a" cp "$T/hook" "$H/charm-published/10-a"
check "cp 20-b" cp "$T/hook" "$H/charm-published/20-b"
check "cp any/x" cp "$T/hook" "$H/any/x"
expect_eq "a hook shows its owner and mode" "root:root 755" "$(stat -c '%U:%G %a' "$H/charm-published/10-a")"
expect_eq "a hook reads back as copied" "$(cat "$T/hook")" "$(cat "$H/charm-published/10-a")"
expect_eq "the folder lists its hooks" "10-a 20-b" "$(ls "$H/charm-published" | tr '\n' ' ' | sed 's/ $//')"

# publish N: publishes wordpress with README changed to N (a new revision each time).
publish() {
	pyzip "$T/wp.charm" <<PYZ
sample("wordpress", edit={"README.md": "revision $1\n"})
PYZ
	cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
}

check "publish 1" publish 1
check "settle after publish 1" settle
expect_eq "hooks ran in name order, any/ last" "10-a 20-b x" "$(tr '\n' ' ' <"$T/order" | sed 's/ $//')"
rev=$(readlink "$MNT/charms/trusty/wordpress/latest")
expect_eq "stdin is the event's JSON" "published cs:trusty/wordpress $rev" \
	"$(json_field "$(cat "$T/10-a.json")" 'd["kind"] + " " + d["urls"][0] + " " + str(d["revision"])' 2>&1)"
check "CHARMFS_EVENT" grep -qx "CHARMFS_EVENT=charm-published" "$T/10-a.env"
check "CHARMFS_URL" grep -qx "CHARMFS_URL=cs:trusty/wordpress-$rev" "$T/20-b.env"
check "CHARMFS_REVISION" grep -qx "CHARMFS_REVISION=$rev" "$T/x.env"
check "CHARMFS_HOOK" grep -qx "CHARMFS_HOOK=any/x" "$T/x.env"
check "CHARMFS_STATE_DIR is the hook's own" grep -q "^CHARMFS_STATE_DIR=.*/hookstate/charm-published/10-a$" "$T/10-a.env"
check "nothing of the daemon's environment leaks" sh -c "! grep -q '^CHARMFS_TEST_MARK=' '$T/10-a.env'"
id=$(newest_change event)
check "the run is a change of kind event" test -n "$id"
expect_eq "its status" "Done" "$(cat "$MNT/changes/$id/status" 2>&1)"
expect_eq "its task" "run-event-hooks" "$(cat "$MNT/changes/$id"/tasks/*/kind 2>&1)"

# The first failure stops the run: neither 20-b nor any/x runs.
rm -f "$T/order"
touch "$T/fail-10-a"
check "publish 2" publish 2
check "settle after publish 2" settle
expect_eq "only the failing hook ran" "10-a" "$(cat "$T/order")"
id=$(newest_change event)
expect_eq "the run's change is in Error" "Error" "$(cat "$MNT/changes/$id/status")"
check "err names the failed hook" grep -q "charm-published/10-a failed: exit status 3" "$MNT/changes/$id/err"
expect_eq "state counts both runs" "2" "$(cat "$STORE/hookstate/charm-published/10-a/count")"

# State survives a restart.
rm -f "$T/fail-10-a" "$T/order"
stop_daemon
CHARMFS_TEST_MARK=1 start_daemon -o allow_other,default_permissions
check "publish 3" publish 3
check "settle after publish 3" settle
expect_eq "all ran again after the restart" "10-a 20-b x" "$(tr '\n' ' ' <"$T/order" | sed 's/ $//')"
expect_eq "state kept across the restart" "3" "$(cat "$STORE/hookstate/charm-published/10-a/count")"
check "the daemon's environment stays out of hooks" sh -c "! grep -q '^CHARMFS_TEST_MARK=' '$T/10-a.env'"

# The publish never waits for its hooks: this one waits for the test, after cp returned.
cat >"$T/waiter" <<HOOK
#!/bin/sh
i=0
while [ ! -e "$T/go" ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
echo waited >>"$T/order"
HOOK
chmod 0755 "$T/waiter"
cp "$T/waiter" "$H/charm-published/30-wait"
rm -f "$T/order"
pyzip "$T/wp.charm" <<PYZ
sample("wordpress", edit={"README.md": "revision 4\n"})
PYZ
check "publish 4 returns while its hook waits" timeout 20 cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "the hook has not finished when cp returned" "" "$(grep waited "$T/order" 2>/dev/null)"
touch "$T/go"
check "settle after publish 4" settle
check "the waiting hook finished" grep -qx waited "$T/order"
rm "$H/charm-published/30-wait"

# charm-deleted and charm-publish-error.
cp "$T/hook" "$H/charm-deleted/d"
check "rmdir a revision" rmdir "$MNT/charms/trusty/wordpress/0"
check "settle after rmdir" settle
check "charm-deleted ran with the revisions" grep -qx "CHARMFS_REVISIONS=0" "$T/d.env"
check "charm-deleted's URL" grep -qx "CHARMFS_URL=cs:trusty/wordpress" "$T/d.env"
cp "$T/hook" "$H/charm-publish-error/e"
printf 'not a zip' >"$T/bad.charm"
cp "$T/bad.charm" "$MNT/publish/trusty/wordpress.charm" 2>/dev/null
check "settle after a refused publish" settle
check "charm-publish-error ran with the errors" grep -q "^CHARMFS_ERRORS=..*" "$T/e.env"

# A removed hook does not run; with no hook left, an event records no change.
rm -f "$T/order"
check "rm any/x" rm "$H/any/x"
check "publish 5" publish 5
check "settle after publish 5" settle
expect_eq "any/x is gone from the run" "10-a 20-b" "$(tr '\n' ' ' <"$T/order" | sed 's/ $//')"
rm -f "$H/charm-published/10-a" "$H/charm-published/20-b"
before=$(newest_change event)
check "publish 6" publish 6
check "settle after publish 6" settle
expect_eq "no hook, no change" "$before" "$(newest_change event)"

# Renames: a hook moved from one event to another runs there.
cp "$T/hook" "$H/lock-expired/m"
check "mv a hook between events" mv "$H/lock-expired/m" "$H/charm-published/m"
rm -f "$T/order"
check "publish 7" publish 7
check "settle after publish 7" settle
expect_eq "the moved hook ran" "m" "$(cat "$T/order" 2>&1)"

# lock-expired: an expired lock taken over fires it.
stop_daemon
start_daemon -o allow_other,default_permissions,lock_timeout=1
cp "$T/hook" "$H/lock-expired/le"
check "take a lock" mkdir "$MNT/locks/trusty/lx"
for _ in $(seq 1 400); do
	[ -e "$MNT/locks/trusty/lx" ] || break
	sleep 0.025
done
check "the lock expired" test ! -e "$MNT/locks/trusty/lx"
check "take it over" mkdir "$MNT/locks/trusty/lx"
check "settle after the take-over" settle
check "lock-expired ran with the URL" grep -qx "CHARMFS_URL=cs:trusty/lx" "$T/le.env"
expect_eq "its JSON" "lock-expired cs:trusty/lx" "$(json_field "$(cat "$T/le.json")" 'd["kind"] + " " + d["url"]' 2>&1)"
check "CHARMFS_LOCK" grep -Eqx "CHARMFS_LOCK=[0-9a-f]+" "$T/le.env"

# Only root writes hooks/ (SPEC §2).
expect_eq "u2 cannot add a hook" "EACCES" "$(errno_as "$U2" "open('$H/any/y', 'w')")"
expect_eq "u2 cannot remove a hook" "EACCES" "$(errno_as "$U2" "os.unlink('$H/charm-published/m')")"
expect_eq "u2 cannot change a hook" "EACCES" "$(errno_as "$U2" "open('$H/charm-published/m', 'a')")"
expect_eq "u2 reads the folder" "OK" "$(errno_as "$U2" "os.listdir('$H/charm-published')")"

# backup/ carries the event hooks and their state: a mounted copy has them.
check "cp -a backup/" cp -a "$MNT/backup" "$T/copy"
count=$(cat "$STORE/hookstate/charm-published/10-a/count")
stop_daemon
STORE=$T/copy start_daemon
expect_eq "the copy's hook" "$(cat "$T/hook")" "$(cat "$H/charm-published/m" 2>&1)"
expect_eq "the copy's hook state" "$count" "$(cat "$T/copy/hookstate/charm-published/10-a/count" 2>&1)"

finish
