#!/bin/bash
# packages/ (SPEC §4.6) through the mount: deploying a published charm by
# writing its URL into packages/NAME/version runs its hooks, as changes,
# with the Juju environment and hook tools; the hook order of a new
# package, an upgrade, a settings change, disable, enable and rmdir, read
# from the package's changes; settings validated, defaults filled, the
# checksum; a version write cancels a running hook (its processes
# killed); a burst of settings writes coalesces; hook_timeout; kill -9
# during install and a remount; state/ behaves as a local directory;
# modes, owners and a second user's EACCES; the errors of SPEC §5.
. "$SRCDIR/tests/mount/lib.sh"

U2=charmfs-u2
need_user "$U2"
chmod 0755 "$T"
OPTS=allow_other,default_permissions
start_daemon -o $OPTS

P=$MNT/packages

# The probe charm: every hook records itself, its environment and what each tool says.
mkdir -p "$T/probe/hooks"
cat >"$T/probe/metadata.yaml" <<'YAML'
name: probe
summary: calls every hook tool
description: A test charm whose hooks record what they see.
YAML
cat >"$T/probe/config.yaml" <<'YAML'
options:
  greeting:
    type: string
    default: hello
    description: a string with a default
  port:
    type: int
    default: 8080
    description: an int with a default
  ratio:
    type: float
    description: a float without a default
  verbose:
    type: boolean
    default: false
    description: a boolean
YAML
cat >"$T/probe/hooks/install" <<HOOK
#!/bin/sh
S=\$CHARMFS_STATE_DIR
H=\$JUJU_HOOK_NAME
echo "\$H" >>"\$S/order"
env | sort >"\$S/env.\$H"
echo \$\$ >"\$S/pid.\$H"
config-get --format json >"\$S/config.json"
config-get greeting >"\$S/greeting"
config-get nosuchkey >"\$S/nokey"; echo "rc=\$?" >>"\$S/nokey"
status-set maintenance "probing \$H"
status-get >"\$S/status-get"
juju-log -l WARNING "probe ran \$H"
open-port 8080/tcp
open-port 53/udp
opened-ports >"\$S/ports"
close-port 53/udp
opened-ports >"\$S/ports2"
unit-get private-address >"\$S/addr"
is-leader >"\$S/leader"
echo "output of \$H"
[ -e "$T/hold-\$H" ] && echo \$\$ >"\$S/held.\$H"
while [ -e "$T/hold-\$H" ]; do sleep 0.05; done
if [ -e "$T/stubborn-\$H" ]; then trap '' TERM; sleep 30.$$; fi
[ "\$H" = start ] && status-set active "probed"
[ -e "$T/fail-\$H" ] && exit 4
exit 0
HOOK
chmod 0755 "$T/probe/hooks/install"
for h in config-changed start stop remove upgrade-charm; do
	ln -s install "$T/probe/hooks/$h"
done

# publish_probe N: publishes the probe charm with README N (revision N-1 on a new store).
publish_probe() {
	echo "readme $1" >"$T/probe/README.md"
	(cd "$T/probe" && rm -f ../probe.charm && zip -qry ../probe.charm .)
	cp "$T/probe.charm" "$MNT/publish/trusty/probe.charm"
}

# hooks_of CHANGE-DIR: the hooks a change runs, in task order.
hooks_of() {
	local t
	for t in $(ls "$1/tasks" | sort -n); do
		sed -n 's/^Run \(.*\) hook of .*/\1/p' "$1/tasks/$t/summary"
	done | tr '\n' ' ' | sed 's/ $//'
}

S=$STORE/packages/p/state
check "publish probe 1" publish_probe 1
check "publish probe 2" publish_probe 2
check "publish wordpress" make_charm wordpress "$T/wp.charm"
cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"

# ---- deploy ------------------------------------------------------------------------
check "mkdir packages/p" mkdir "$P/p"
expect_eq "a new package lists its files" "charm checksum enabled log settings state status version" \
	"$(ls "$P/p" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "no version yet" "" "$(cat "$P/p/version")"
expect_eq "enabled by default" "1" "$(cat "$P/p/enabled")"
check "settings before the version" sh -c "echo '{\"greeting\": \"hi there\", \"ratio\": 0.5}' >'$P/p/settings'"
check "write version" sh -c "echo cs:trusty/probe-0 >'$P/p/version'"
check "settle" settle
expect_eq "the version" "cs:trusty/probe-0" "$(cat "$P/p/version")"
expect_eq "new package: install, config-changed, start" "install config-changed start" "$(tr '\n' ' ' <"$S/order" | sed 's/ $//')"
expect_eq "its change's hooks" "install config-changed start" "$(hooks_of "$P/p/change")"
expect_eq "its change is Done" "Done" "$(cat "$P/p/change/status")"
expect_eq "settings shown with defaults, sorted, compact" \
	'{"greeting":"hi there","port":8080,"ratio":0.5,"verbose":false}' "$(cat "$P/p/settings")"
expect_eq "checksum is the MD5 of the settings" "$(head -c -1 "$P/p/settings" | md5sum | cut -d' ' -f1)" "$(cat "$P/p/checksum")"
expect_eq "config-get --format json" '{"greeting":"hi there","port":8080,"ratio":0.5,"verbose":false}' \
	"$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True, separators=(",", ":")))' "$S/config.json")"
expect_eq "config-get KEY" "hi there" "$(cat "$S/greeting")"
expect_eq "config-get of an unknown key prints nothing, exits 0" "rc=0" "$(cat "$S/nokey")"
expect_eq "status-get" "maintenance" "$(cat "$S/status-get")"
expect_eq "status after start" "active: probed" "$(cat "$P/p/status")"
expect_eq "open-port then opened-ports" "$(printf '8080/tcp\n53/udp')" "$(cat "$S/ports")"
expect_eq "close-port" "8080/tcp" "$(cat "$S/ports2")"
check "unit-get private-address" grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' "$S/addr"
expect_eq "is-leader" "True" "$(cat "$S/leader")"
check "juju-log lines in log" grep -q "WARNING probe ran install" "$P/p/log"
check "hook output in log" grep -q "output of config-changed" "$P/p/log"
check "hook output in the task log" grep -q "output of install" $(ls -d "$P/p/change/tasks"/*/log)
E=$S/env.install
check "JUJU_UNIT_NAME" grep -qx "JUJU_UNIT_NAME=p/0" "$E"
check "CHARM_DIR" grep -qx "CHARM_DIR=$STORE/packages/p/charm" "$E"
check "JUJU_CHARM_DIR" grep -qx "JUJU_CHARM_DIR=$STORE/packages/p/charm" "$E"
check "JUJU_HOOK_NAME" grep -qx "JUJU_HOOK_NAME=install" "$E"
check "JUJU_MODEL_UUID" grep -Eq "^JUJU_MODEL_UUID=[0-9a-f-]{36}$" "$E"
check "JUJU_CONTEXT_ID" grep -Eq "^JUJU_CONTEXT_ID=.+" "$E"
check "CHARMFS_MOUNT" grep -qx "CHARMFS_MOUNT=$MNT" "$E"
check "CHARMFS_STATE_DIR" grep -qx "CHARMFS_STATE_DIR=$S" "$E"
check "PATH starts with the hook tools" sh -c "grep '^PATH=' '$E' | cut -d= -f2 | cut -d: -f1 | xargs -I{} test -x {}/config-get"
check "the deployed tree" cmp "$T/probe/metadata.yaml" "$P/p/charm/metadata.yaml"
check "a context id is invalid after its hook" sh -c "! env JUJU_CONTEXT_ID=\$(sed -n 's/^JUJU_CONTEXT_ID=//p' '$E') JUJU_AGENT_SOCKET_ADDRESS=\$(sed -n 's/^JUJU_AGENT_SOCKET_ADDRESS=//p' '$E') \$(grep '^PATH=' '$E' | cut -d= -f2 | cut -d: -f1)/config-get >/dev/null 2>&1"

# ---- the sample wordpress, with settings ------------------------------------------------
check "mkdir packages/wp" mkdir "$P/wp"
check "wordpress settings" sh -c "echo '{\"blog-title\": \"Hi\", \"port\": 8080}' >'$P/wp/settings'"
check "deploy wordpress" sh -c "echo cs:trusty/wordpress-0 >'$P/wp/version'"
check "settle after wordpress" settle
WS=$STORE/packages/wp/state
expect_eq "wordpress's hooks ran in order" "install config-changed start" "$(tr '\n' ' ' <"$WS/hooks.log" | sed 's/ $//')"
expect_eq "it saw its settings" "8080 Hi yes" "$(cat "$WS/port") $(cat "$WS/title") $(cat "$WS/installed")"
expect_eq "its status" "active: serving on port 8080" "$(cat "$P/wp/status")"
check "its juju-log lines" grep -q "INFO wordpress: port=8080 title=Hi" "$P/wp/log"
expect_eq "its settings with defaults" '{"blog-title":"Hi","cache-ratio":0.25,"debug":false,"port":8080,"tagline":""}' "$(cat "$P/wp/settings")"
check "rmdir wordpress" rmdir "$P/wp"
check "settle after its rmdir" settle

# ---- the order of each kind of write -------------------------------------------------
: >"$S/order"
check "same version and settings again" sh -c "echo cs:trusty/probe-0 >'$P/p/version'"
id=$(readlink "$P/p/change")
check "settle" settle
expect_eq "an unchanged write does nothing" "$id" "$(readlink "$P/p/change")"
check "upgrade" sh -c "echo cs:trusty/probe-1 >'$P/p/version'"
check "settle" settle
expect_eq "upgrade: upgrade-charm, config-changed, start" "upgrade-charm config-changed start" "$(hooks_of "$P/p/change")"
: >"$S/order"
check "settings only" sh -c "echo '{\"greeting\": \"bonjour\"}' >'$P/p/settings'"
check "settle" settle
expect_eq "settings-only: config-changed" "config-changed" "$(hooks_of "$P/p/change")"
expect_eq "the hook saw the new settings" "bonjour" "$(cat "$S/greeting")"
check "disable" sh -c "echo 0 >'$P/p/enabled'"
check "settle" settle
expect_eq "disable: stop" "stop" "$(hooks_of "$P/p/change")"
check "enable" sh -c "echo 1 >'$P/p/enabled'"
check "settle" settle
expect_eq "enable: config-changed, start" "config-changed start" "$(hooks_of "$P/p/change")"
expect_eq "hooks ran in that order" "config-changed stop config-changed start" "$(tr '\n' ' ' <"$S/order" | sed 's/ $//')"

# ---- a burst of settings writes runs config-changed fewer times, the last with the last settings
: >"$S/order"
for i in $(seq 1 20); do echo "{\"greeting\": \"burst $i\"}" >"$P/p/settings"; done
check "settle after the burst" settle
n=$(grep -c config-changed "$S/order")
check "config-changed ran fewer than 20 times ($n)" test "$n" -lt 20 -a "$n" -ge 1
expect_eq "the last run saw the last settings" "burst 20" "$(cat "$S/greeting")"

# ---- cancellation: a version write while install runs kills it --------------------------
mkdir "$P/c"
touch "$T/hold-install"
echo cs:trusty/probe-0 >"$P/c/version"
C=$STORE/packages/c/state
for _ in $(seq 400); do [ -s "$C/pid.install" ] && break; sleep 0.025; done
pid=$(cat "$C/pid.install")
check "install is running" kill -0 "$pid"
check "a new version while install runs" sh -c "echo cs:trusty/probe-1 >'$P/c/version'"
rm -f "$T/hold-install"
check "settle after the cancel" settle
check "the cancelled install's process is gone" sh -c "! kill -0 $pid 2>/dev/null"
check "no process of its group remains" sh -c "! pgrep -g $pid >/dev/null"
expect_eq "the new version deployed" "cs:trusty/probe-1" "$(cat "$P/c/version")"
expect_eq "the new version's hooks ran" "install config-changed start" "$(hooks_of "$P/c/change")"
expect_eq "and the package is up" "active: probed" "$(cat "$P/c/status")"

# ---- a failed hook, and the next write retries ------------------------------------------
printf '#!/bin/sh\nenv >"%s/$(basename "$0").env"\ncat >"%s/$(basename "$0").json"\n' "$T" "$T" >"$T/evhook"
chmod 0755 "$T/evhook"
cp "$T/evhook" "$MNT/hooks/package-changed/pc"
cp "$T/evhook" "$MNT/hooks/package-error/pe"
touch "$T/fail-config-changed"
echo '{"greeting": "fails"}' >"$P/p/settings"
check "settle after a failing hook" settle
expect_eq "status names the failed hook" "error: hook config-changed failed" "$(cat "$P/p/status")"
check "the log names the exit status" grep -q "config-changed failed: exit status 4" "$P/p/log"
expect_eq "its change is in Error" "Error" "$(cat "$P/p/change/status")"
check "package-changed fired for the write" grep -qx "CHARMFS_PACKAGE=p" "$T/pc.env"
check "package-error fired for the hook" grep -qx "CHARMFS_HOOK_NAME=config-changed" "$T/pe.env"
expect_eq "package-error's JSON" "package-error p config-changed" \
	"$(json_field "$(cat "$T/pe.json")" 'd["kind"] + " " + d["package"] + " " + d["hook"]' 2>&1)"
rm -f "$MNT/hooks/package-changed/pc" "$MNT/hooks/package-error/pe"
rm -f "$T/fail-config-changed"
echo '{"greeting": "fails"}' >"$P/p/settings"
check "settle after the retry" settle
expect_eq "the same write retried" "fails" "$(cat "$S/greeting")"
check "no error any more" sh -c "! grep -q error '$P/p/status'"

# ---- errors (SPEC §5) ----------------------------------------------------------------------
expect_eq "unknown option" "EINVAL" "$(errno_of "fd = os.open('$P/p/settings', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'{\"nope\": 1}')")"
expect_eq "wrong type" "EINVAL" "$(errno_of "fd = os.open('$P/p/settings', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'{\"port\": \"x\"}')")"
expect_eq "not JSON" "EINVAL" "$(errno_of "fd = os.open('$P/p/settings', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'{')")"
expect_eq "not an object" "EINVAL" "$(errno_of "fd = os.open('$P/p/settings', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'[1]')")"
expect_eq "malformed version" "EINVAL" "$(errno_of "fd = os.open('$P/p/version', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'cs:not a url')")"
expect_eq "a version not in the store" "ENOENT" "$(errno_of "fd = os.open('$P/p/version', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'cs:trusty/probe-99')")"
expect_eq "enabled takes 0 or 1" "EINVAL" "$(errno_of "fd = os.open('$P/p/enabled', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'2')")"
expect_eq "checksum is read-only" "EACCES" "$(errno_of "open('$P/p/checksum', 'w')")"
expect_eq "status is read-only" "EACCES" "$(errno_of "open('$P/p/status', 'w')")"
expect_eq "charm/ is read-only" "EACCES" "$(errno_of "open('$P/p/charm/metadata.yaml', 'a')")"
expect_eq "no creating in charm/" "EACCES" "$(errno_of "open('$P/p/charm/new', 'w')")"
expect_eq "a bad package name" "EINVAL" "$(errno_of "os.mkdir('$P/Bad_Name')")"
expect_eq "mkdir of an existing package" "EEXIST" "$(errno_of "os.mkdir('$P/p')")"
expect_eq "a missing package" "ENOENT" "$(errno_of "os.stat('$P/nope')")"
expect_eq "the failed write left the settings" '"fails"' "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["greeting"]))' "$P/p/settings")"

# ---- owners, modes and a second user (SPEC §2) --------------------------------------------
expect_eq "packages/" "root:root 755" "$(stat -c '%U:%G %a' "$P")"
expect_eq "settings is root's alone" "root:root 600" "$(stat -c '%U:%G %a' "$P/p/settings")"
expect_eq "log is root's alone" "root:root 600" "$(stat -c '%U:%G %a' "$P/p/log")"
expect_eq "state/ is root's alone" "root:root 700" "$(stat -c '%U:%G %a' "$P/p/state")"
expect_eq "version" "root:root 644" "$(stat -c '%U:%G %a' "$P/p/version")"
expect_eq "status" "root:root 444" "$(stat -c '%U:%G %a' "$P/p/status")"
expect_eq "u2 reads status" "OK" "$(errno_as "$U2" "open('$P/p/status').read()")"
expect_eq "u2 cannot read settings" "EACCES" "$(errno_as "$U2" "open('$P/p/settings').read()")"
expect_eq "u2 cannot read log" "EACCES" "$(errno_as "$U2" "open('$P/p/log').read()")"
expect_eq "u2 cannot enter state/" "EACCES" "$(errno_as "$U2" "os.listdir('$P/p/state')")"
expect_eq "u2 cannot mkdir a package" "EACCES" "$(errno_as "$U2" "os.mkdir('$P/u2pkg')")"
expect_eq "u2 cannot write a version" "EACCES" "$(errno_as "$U2" "open('$P/p/version', 'w')")"
expect_eq "u2 cannot rmdir a package" "EACCES" "$(errno_as "$U2" "os.rmdir('$P/p')")"
check "sizes match what a read returns" sh -c "for f in '$P/p'/*; do [ -d \"\$f\" ] || [ \"\$(stat -c %s \"\$f\")\" = \"\$(wc -c <\"\$f\")\" ] || exit 1; done"

# ---- state/ is a POSIX directory ------------------------------------------------------------
mkdir -p /dev/shm/charmfs-posix.$$ "$P/p/state/posix"
python3 "$SRCDIR/tests/mount/posix_ops.py" /dev/shm/charmfs-posix.$$ >"$T/posix.tmpfs" 2>&1
python3 "$SRCDIR/tests/mount/posix_ops.py" "$P/p/state/posix" >"$T/posix.state" 2>&1
rm -rf /dev/shm/charmfs-posix.$$
check "state/ behaves as tmpfs" diff -u "$T/posix.tmpfs" "$T/posix.state"
check "statfs of state/" stat -f "$P/p/state" >/dev/null

# ---- timeout: a hook that ignores SIGTERM is killed -----------------------------------------
stop_daemon
start_daemon -o $OPTS,hook_timeout=1
touch "$T/stubborn-config-changed"
echo '{"greeting": "slow"}' >"$P/p/settings"
check "settle after the timeout" settle
expect_eq "a timed-out hook fails" "error: hook config-changed failed" "$(cat "$P/p/status")"
check "the log says it timed out" grep -q "config-changed failed: .*timeout of 1 s" "$P/p/log"
# (30.PID: only this test's hook sleeps exactly that long)
check "nothing of it remains" sh -c "! pgrep -fx '[s]leep 30\\.$$' >/dev/null"
rm -f "$T/stubborn-config-changed"
echo '{"greeting": "slow"}' >"$P/p/settings"
check "settle after the retry" settle
expect_eq "the retry ran" "slow" "$(cat "$S/greeting")"

# ---- kill -9 during install, then remount: it finishes -------------------------------------
# gone PID: no such process, or only its zombie (pid 1 here may not reap orphans).
alive() {
	ps -o stat= -p "$1" 2>/dev/null | grep -qv Z
}
gone() {
	! alive "$1"
}
mkdir "$P/k"
K=$STORE/packages/k/state
touch "$T/hold-install"
echo cs:trusty/probe-0 >"$P/k/version"
# held.install: the hook has made its tool calls and written its output, so
# the daemon's death cannot reach it through a closed pipe (SIGPIPE).
for _ in $(seq 400); do [ -s "$K/held.install" ] && break; sleep 0.025; done
pid=$(cat "$K/held.install")
kill_daemon
check "the hook outlived the daemon" alive "$pid"
: >"$K/pid.install"
start_daemon -o $OPTS
for _ in $(seq 400); do [ -s "$K/pid.install" ] && break; sleep 0.025; done
check "the remount killed what was left of it" gone "$pid"
rm -f "$T/hold-install"
check "settle after the remount" settle
expect_eq "install ran again" "2" "$(grep -c '^install$' "$K/order")"
expect_eq "then the rest" "install install config-changed start" "$(tr '\n' ' ' <"$K/order" | sed 's/ $//')"
expect_eq "the package is up" "active: probed" "$(cat "$P/k/status")"

# ---- rmdir: stop, remove, then the package is gone ----------------------------------------
: >"$K/order"
check "rmdir packages/k" rmdir "$P/k"
check "settle after rmdir" settle
check "packages/k is gone" test ! -e "$P/k"
id=$(newest_change remove-package)
expect_eq "rmdir: stop, remove" "stop remove" "$(hooks_of "$MNT/changes/$id")"

# ---- backup/ holds packages, settings and state ------------------------------------------
check "cp -a backup/" cp -a "$MNT/backup" "$T/copy"
stop_daemon
STORE=$T/copy start_daemon -o $OPTS
expect_eq "the copy's package" "cs:trusty/probe-1" "$(cat "$P/p/version")"
expect_eq "the copy's settings" "slow" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["greeting"])' "$P/p/settings")"
check "the copy's state" grep -q config-changed "$P/p/state/order"

finish
