/*
 * Snapshots for backup/ (SPEC §4.10): a consistent copy of the store that
 * is itself a STOREDIR (the database, and the archives it references; trees
 * are rebuilt from the archives when the copy is mounted).
 *
 * A snapshot is taken when backup/ is used while none is live. It stays
 * live while a file under backup/ is open and for BACKUP_LINGER seconds
 * after the last access, so that one `cp -a`, `rsync -a` or `tar c` sees
 * one snapshot; the next use after that takes a new one.
 *
 * Calling sequence (from any thread):
 *   backup_get(s, now, dir, sizeof(dir))   on every access: the live snapshot's directory
 *   backup_hold(s) ... backup_put(s, now)  around each open file
 */
#ifndef CHARMFS_BACKUP_H
#define CHARMFS_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define BACKUP_LINGER 60

/*
 * The directory of the live snapshot, taking one first if none is live
 * (now is in seconds). Records the access. 0 or -errno (-ENOSPC when the
 * copy does not fit).
 */
int backup_get(struct store *s, int64_t now, char *ret_dir, size_t len) WUR;
/* Counts an open file under backup/ (keeps the snapshot live). */
void backup_hold(struct store *s);
/* Ends what backup_hold() counted; the linger time starts at now. */
void backup_put(struct store *s, int64_t now);

#endif
