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

#include "counter.h"
struct db; /* db.h: for backend/ only */
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

/* One write to counter.inc adds at most this much (SPEC §4.4). */
#define COUNTER_LOG_MAX_COUNT (UINT64_C(1) << 32)
/* counter_log_inc() flag: the key must exist already (a write to its counter.inc). */
#define COUNTER_LOG_EXISTING 1u

/*
 * Records an increment of count (1..COUNTER_LOG_MAX_COUNT) at now_unix,
 * checked as counter_inc() checks it. Nothing is recorded on failure:
 * -EINVAL (bad key, count or time), -EOVERFLOW (count is too big, or the
 * grand total, and so some key, would pass INT64_MAX), -ENOENT (with
 * COUNTER_LOG_EXISTING, the key is not there: it was removed), -ENOSPC,
 * -EIO, -EROFS (l is NULL: a read-only store).
 */
int counter_log_inc(struct counter_log *l, const char *const *tokens, size_t n, uint64_t count,
		    int64_t now_unix, unsigned flags) WUR;

/* Applies every pending increment to the database. 0 or -errno. */
int counter_log_flush(struct counter_log *l);

/*
 * Reads that see every increment that returned: the pending increments are
 * applied first or, when the database cannot take them (a full disk),
 * applied in a transaction that the read goes through and that is then
 * rolled back (they stay pending), so a read never fails for want of space.
 * As counter_query(), counter_exists() and counter_children(). l may be
 * NULL (a read-only store): db is read as it is.
 */
int counter_log_query(struct counter_log *l, struct db *db, const struct counter_req *req,
		      struct counter_result *ret) WUR;
int counter_log_exists(struct counter_log *l, struct db *db, const char *const *tokens,
		       size_t n) WUR;
int counter_log_children(struct counter_log *l, struct db *db, const char *const *tokens,
			 size_t n, counter_name_cb cb, void *ud) WUR;

/*
 * Removes a key (counter_rmkey()) after applying what is pending, so that
 * no increment in flight is lost or re-creates it. -EROFS when l is NULL.
 */
int counter_log_rmkey(struct counter_log *l, struct db *db, const char *const *tokens,
		      size_t n) WUR;

#endif
