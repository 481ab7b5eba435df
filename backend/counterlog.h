/*
 * The counter log: increments are appended to STOREDIR/counters.log and
 * applied to the counter tables in batches, so that a counter.inc write
 * costs one append instead of one database transaction.
 *
 * An increment is durable when counter_log_inc() returns: the record is in
 * the log (written, and with sync_full also fdatasync'ed) before it
 * returns, and a restart applies every record the database has not seen
 * yet. Records carry sequence numbers and the database remembers the last
 * one it applied (in the same transaction as the batch), so no record is
 * applied twice.
 *
 * Readers call counter_log_flush() first, which applies what is pending,
 * so every read sees every increment that returned before it.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef CHARMFS_COUNTERLOG_H
#define CHARMFS_COUNTERLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "util.h"

/* Most increments kept pending before a writer applies them itself. */
#define COUNTER_LOG_MAX_PENDING 4096

struct counter_log;

/*
 * Opens (creating) the log at path and applies the records db has not
 * applied yet. 0 or -errno.
 */
int counter_log_open(struct db *db, const char *path, bool sync_full, struct counter_log **ret) WUR;
/* Applies what is pending, stops the applier and closes the log. */
void counter_log_close(struct counter_log *l);

/*
 * Records an increment (checked as counter_inc() checks it). 0, -EINVAL,
 * -EOVERFLOW, -ENOSPC or -EIO.
 */
int counter_log_inc(struct counter_log *l, const char *const *tokens, size_t n, uint64_t count,
		    int64_t now_unix) WUR;

/* Applies every pending increment to the database. 0 or -errno. */
int counter_log_flush(struct counter_log *l);

#endif
