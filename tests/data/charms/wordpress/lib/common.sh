# Sourced by every hook of this charm; it is not a hook itself.
# STATE is where hooks keep their small files: the unit's persistent state
# directory when charmfs provides one, the charm directory otherwise.
STATE=${CHARMFS_STATE_DIR:-$CHARM_DIR}
HOOK=${JUJU_HOOK_NAME:-$(basename "$0")}

# record WORD: append one line to the hook history.
record() {
	printf '%s\n' "$1" >>"$STATE/hooks.log"
}

# put NAME VALUE: replace a one-line state file.
put() {
	printf '%s\n' "$2" >"$STATE/$1.tmp" && mv -f "$STATE/$1.tmp" "$STATE/$1"
}
