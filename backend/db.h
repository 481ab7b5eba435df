/*
 * The SQLite layer under the store: one database file in WAL mode, one
 * connection per thread (readers never wait for the writer), one writer at
 * a time, a cache of prepared statements per connection, the numbered
 * migration steps of the schema, and the single place where SQLite result
 * codes become errno.
 *
 * Calling sequence for a change:
 *   db_write_begin(db)      takes the writer mutex, BEGIN IMMEDIATE
 *   db_prep(db, SQL) ...    bind, step, db_reset
 *   db_write_end(db, r)     COMMIT when r == 0 (returns its result), else ROLLBACK
 * Reads just use db_prep()/db_reset() outside any transaction.
 * Between db_write_begin() and db_write_end() the calling thread works on
 * the writer's connection (one for all write transactions, handed over
 * with the mutex), so a statement db_prep() returned inside a write
 * transaction is stepped and reset inside it, and one from outside is not
 * used inside it.
 * The write-ahead log is checkpointed by a thread of the db's own, woken by
 * the commits that grow it past a mark (never inside a caller's commit);
 * db_close() stops it.
 */
#ifndef CHARMFS_DB_H
#define CHARMFS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

#include "util.h"

/*
 * The store's schema version: the number of steps of its migration list
 * (store_int.h), which a _Static_assert in store.c ties to this.
 */
#define DB_SCHEMA_VERSION 4

struct db;

/*
 * One numbered migration step: it takes a database from the version before
 * it to its own. sql is a NULL-terminated list of NULL-terminated statement
 * lists, one per module that has work in the step (NULL: none); fn, when
 * not NULL, runs after them (0 or -errno, its SQLite message in
 * db_errmsg()). Both run inside the write transaction that sets the
 * version, so a step is done whole or not at all. A released step never
 * changes: a change to the schema is a new step at the end of the list.
 */
struct db_step {
	const char *what; /* what the step does, for messages */
	const char *const *const *sql;
	int (*fn)(struct db *db);
};

/* A schema: steps[i] takes a database from version i to i + 1, so n is the newest version. */
struct db_schema {
	const struct db_step *steps;
	size_t n;
};

/*
 * Opens (creating if needed) the database at path and brings its schema
 * (meta('schema'), 0 for a new file) to schema->n, one step per
 * transaction. A newer version is refused with -EPROTO, changing nothing.
 * A step that fails leaves the database at the version before it (the
 * steps before it stay done) and returns its error. sync_full selects
 * synchronous=FULL (power-loss safe) instead of NORMAL (process-crash
 * safe). schema is not kept. Messages go to err.
 */
int db_open(const char *path, bool sync_full, const struct db_schema *schema, struct db **ret,
	    char *err, size_t errlen) WUR;
/*
 * Opens an existing database for reading only (charmfs --check): no schema
 * step and no change to the database or its write-ahead log (SQLite may
 * update its shared-memory index, charmfs.db-shm). -ENOENT when there is no
 * database at path; -EPROTO when its schema version is not schema->n (an
 * older one is upgraded by mounting it). db_write_begin() then fails
 * (-EROFS). Messages go to err.
 */
int db_open_read_only(const char *path, const struct db_schema *schema, struct db **ret, char *err,
		      size_t errlen) WUR;
/* Closes every connection. No other thread may use db during or after. */
void db_close(struct db *db);

/*
 * A prepared statement for sql on the calling thread's connection, ready
 * to bind (cached per connection, keyed by the sql pointer: pass string
 * literals). NULL when the connection or statement cannot be made.
 */
sqlite3_stmt *db_prep(struct db *db, const char *sql);
/* Resets a statement from db_prep() and clears its bindings. */
void db_reset(sqlite3_stmt *st);

/* Maps an SQLite result code to -errno (0 for OK/ROW/DONE). */
int db_errno(int rc);
/* The calling thread's connection's last error message (kept across the ROLLBACK of a failed change). */
const char *db_errmsg(struct db *db);

int db_write_begin(struct db *db) WUR;
int db_write_end(struct db *db, int r) WUR;

/*
 * Checkpoints the write-ahead log into the database and truncates the log to
 * nothing, giving its disk space back (for a store that is short of space).
 * Takes the writer mutex, so never call it inside db_write_begin/end; waits
 * for readers on old snapshots up to the busy timeout (10 s). 0, or -EBUSY
 * when readers kept the log, or another -errno.
 */
int db_shrink(struct db *db);

/*
 * A read that needs one snapshot across several statements: db_read_begin()
 * starts a read transaction unless the calling thread is inside one already
 * (then the reads see its changes), and says whether it did; db_read_end()
 * ends what it started. 0 or -errno.
 */
int db_read_begin(struct db *db, bool *ret_started) WUR;
void db_read_end(struct db *db, bool started);

/* Runs one statement without results (for simple writes inside a transaction). */
int db_exec(struct db *db, const char *sql);

/*
 * Copies the whole database, as of one read transaction, into a new file
 * at path (SQLite online backup). 0 or -errno.
 */
int db_backup_to(struct db *db, const char *path) WUR;

/* Reads meta.value for key into a new string (caller frees); -ENOENT when absent. */
int db_meta_get(struct db *db, const char *key, char **ret) WUR;

#endif
