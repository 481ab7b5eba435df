#!/bin/sh
# Shared body of the relation hooks; hooks/*-relation-* link here.
set -e
CHARM_DIR=${CHARM_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$CHARM_DIR/lib/common.sh"

juju-log "haproxy: $HOOK"
record "$HOOK"
case $HOOK in
reverseproxy-relation-joined | reverseproxy-relation-changed)
	printf '%s\n' "$(unit-get private-address)" >>"$STATE/backends"
	status-set active "balancing"
	;;
reverseproxy-relation-broken)
	rm -f "$STATE/backends"
	status-set blocked "no backends"
	;;
esac
