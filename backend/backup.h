/*
 * Snapshots for backup/ (SPEC §4.10): a consistent copy of the store that
 * is itself a STOREDIR (the database, and the archives it references; trees
 * are rebuilt from the archives when the copy is mounted).
 *
 * A snapshot is taken when backup/ is used while none is live. It stays
 * live while a file under backup/ is open and for BACKUP_LINGER_MS after
 * the last of them was closed (or, when none was opened, after it was
 * taken), so that one `cp -a`, `rsync -a` or `tar c` sees one snapshot.
 * Lookups, stats and listings use the live snapshot but never extend it:
 * a copy started after it lapsed gets a new one, with everything that
 * returned before.
 *
 * Times are milliseconds of backup_now() (CLOCK_MONOTONIC) given by the
 * caller, so that the linger is exact and immune to clock changes.
 *
 * Calling sequence (from any thread):
 *   backup_get(s, backup_now(), dir, sizeof(dir))   on every access: the live snapshot
 *   backup_hold(s, backup_now(), path, real, sizeof(real)) ... backup_put(s, backup_now())
 *                                                   around each open file or directory
 */
#ifndef CHARMFS_BACKUP_H
#define CHARMFS_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* How long a snapshot outlives its last open file. */
#define BACKUP_LINGER_MS 2000

/* The current CLOCK_MONOTONIC time in milliseconds, for `now` arguments. */
int64_t backup_now(void);

/*
 * The directory of the live snapshot, taking one first if none is live.
 * Does not extend the snapshot's life. 0 or -errno (-ENOSPC when the copy
 * does not fit); ret_dir is written only on success.
 */
int backup_get(struct store *s, int64_t now, char *ret_dir, size_t len) WUR;
/*
 * Counts an open file or directory under backup/, which keeps the live
 * snapshot live until backup_put(). path is what the caller resolved
 * under a snapshot backup_get() gave; that snapshot may have lapsed (and
 * been replaced) since, so the live one (taken now if none is) is held
 * and ret gets the same path under it: open ret, not path. 0, -EINVAL
 * for a path not under a snapshot, -ENAMETOOLONG, or backup_get()'s
 * errors; nothing is held on failure.
 */
int backup_hold(struct store *s, int64_t now, const char *path, char *ret, size_t len) WUR;
/* Ends what backup_hold() counted; the linger time starts at now. */
void backup_put(struct store *s, int64_t now);

#endif
