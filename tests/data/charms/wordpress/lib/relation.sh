#!/bin/sh
# Shared body of the relation hooks; hooks/*-relation-* link here.
set -e
CHARM_DIR=${CHARM_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$CHARM_DIR/lib/common.sh"

juju-log "wordpress: $HOOK"
record "$HOOK"
case $HOOK in
db-relation-joined | db-relation-changed)
	put db "$(unit-get private-address)"
	status-set active "database relation up"
	;;
db-relation-departed | db-relation-broken)
	rm -f "$STATE/db"
	status-set blocked "waiting for a database"
	;;
esac
