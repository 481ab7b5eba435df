/*
 * What the store keeps of upgrades (SPEC §4.9): the installed release
 * version (`current`, "0.0.0" when none), what the publisher said at the
 * last check (`latest`, `versions`, and when) and the versions applied
 * (`history`), in the database's meta
 * table, so that `upgrade/` shows them across restarts and in backups.
 * The upgrade module (upgrade/) decides; this is only its storage.
 *
 * Thread-safety: any thread; every write is committed before it returns.
 */
#ifndef CHARMFS_UPGSTATE_H
#define CHARMFS_UPGSTATE_H

#include <stdint.h>

#include "store.h"
#include "util.h"

/* The version of a store that never applied a release. */
#define UPG_NONE "0.0.0"

struct upg_state {
	char *current;	   /* UPG_NONE when none */
	char *latest;	   /* "" before the first successful check */
	char *versions;	   /* one per line, as the publisher listed them; "" before */
	char *history;	   /* "VERSION TIME\n" per applied version, oldest first; "" when none */
	int64_t checked_ns; /* the last successful check, 0: never */
};

/* Reads the state (upg_state_free()). -ENOMEM, -EIO. */
int upg_state_get(struct store *s, struct upg_state *ret) WUR;
void upg_state_free(struct upg_state *st);
/* Records a successful check: latest, the versions (n of them) and now. -EIO, -ENOSPC. */
int upg_state_checked(struct store *s, const char *latest, const char *const *versions,
		      size_t n) WUR;

/*
 * Records that version was applied, in one transaction: current becomes
 * version and "VERSION TIME" (TIME: RFC 3339 UTC) is appended to the
 * history. -EIO, -ENOSPC, -ENOMEM.
 */
int upg_state_applied(struct store *s, const char *version) WUR;

#endif
