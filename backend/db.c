/*
 * SQLite access for the store. Every thread gets its own connection
 * (created on first use, closed when the thread exits or the database is
 * closed), so that readers run concurrently with the single writer under
 * WAL. Writers are serialised by a mutex before BEGIN IMMEDIATE, which keeps
 * SQLITE_BUSY out of the normal path; busy_timeout covers the --check tool
 * and backups reading the same file from another process.
 *
 * Every write transaction, whichever thread runs it, runs on one more
 * connection, the writer's, which the mutex hands from thread to thread:
 * between db_write_begin() and db_write_end() the calling thread's db_prep()
 * and db_exec() use it. A connection's page cache is thrown away whenever
 * another connection has committed since its last read, so with a
 * connection per thread every publish (on whichever FUSE thread) and every
 * engine commit re-read the B-tree pages the next write needed; the
 * writer's cache only ever sees its own commits and stays warm.
 *
 * The schema is a list of numbered steps (struct db_schema), each made of
 * the statements of the modules that have work in it. db_open() runs the
 * steps a database has not had, each in the transaction that sets
 * meta('schema') to its number, so an interrupted or failed upgrade leaves
 * a database at a version some charmfs knows. A store written by a newer
 * charmfs is refused rather than guessed at.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "banned.h"

/* Slots a connection's statement cache starts with; it doubles when half full. */
#define STMT_CACHE_MIN 64

struct stmt_slot {
	const char *key;
	sqlite3_stmt *st;
};

struct conn {
	sqlite3 *sql;
	struct db *db;
	struct conn *next;
	struct conn *prev;
	/*
	 * Open addressing keyed by the SQL string's address. Statements are
	 * never evicted (a caller may hold one across another db_prep()); the
	 * program has a fixed set of SQL strings, so the cache stays small.
	 */
	struct stmt_slot *cache;
	size_t cache_size, cache_used;
	char err[256]; /* the last failure's message, kept across a ROLLBACK */
};

struct db {
	char *path;
	bool sync_full;
	bool read_only; /* db_open_read_only(): no schema step, no writes */
	pthread_key_t key;
	pthread_mutex_t conns_lock;
	struct conn *conns;
	pthread_mutex_t write_lock;
	struct conn *writer;	  /* every write transaction's connection, under write_lock */
	struct db *outer_writing; /* the writing thread's `writing` before db_write_begin() */
	/* The checkpointer (see DB_WAL_CHECKPOINT), started by the first commit that wants it. */
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	pthread_t ckpt_thread;
	bool ckpt_started, ckpt_wanted, ckpt_stop;
	int ckpt_next; /* the log size that wakes it next (under write_lock) */
};

/* The database whose write transaction the calling thread is in (its connection: db->writer). */
static _Thread_local struct db *writing;

int db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		/* Only a duplicate key is "exists"; another violated rule is a bug. */
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? -EEXIST
											  : -EIO;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -EFBIG;
	default:
		return -EIO;
	}
}

static void conn_free(struct conn *c)
{
	for (size_t i = 0; i < c->cache_size; i++)
		if (c->cache[i].st)
			sqlite3_finalize(c->cache[i].st);
	free(c->cache);
	sqlite3_close_v2(c->sql);
	free(c);
}

static void conn_unlink(struct db *db, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		db->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void conn_thread_exit(void *p)
{
	struct conn *c = p;
	struct db *db = c->db;

	pthread_mutex_lock(&db->conns_lock);
	conn_unlink(db, c);
	pthread_mutex_unlock(&db->conns_lock);
	conn_free(c);
}

/*
 * No memory-mapped I/O: every connection (one per thread) would map the
 * whole database, and each mapping counts in the daemon's RSS once touched,
 * so an `ls -lR` of 10,000 charms cost the database's size times the number
 * of threads. Reads go through each connection's bounded page cache and the
 * kernel's (shared) page cache instead.
 */
#define DB_MMAP_SIZE "0"

/*
 * Each connection's page cache may grow to SQLite's default 2 MiB, and
 * there is a connection per thread that ever touched the database: a burst
 * of parallel requests would leave the daemon's memory proportional to the
 * number of threads. Past this much SQLite memory in the whole process,
 * connections recycle their own least recently used pages instead of
 * growing; a page not in any cache is one pread from the kernel's cache.
 */
#define DB_SOFT_HEAP_LIMIT (8 << 20)

/*
 * The page cache of a thread's own connection, which only reads, in KiB
 * (SQLite's default, which the writer's connection keeps, is 2,000). It
 * is thrown away at the next read after any commit anyway, and the
 * store's read cache (storecache.h) keeps what charms/ reads; a query
 * needs a few pages of each B-tree it walks. With one connection per
 * FUSE thread, reader caches were most of the soft heap limit after an
 * `ls -lR` of 10,000 charms (6.7 MiB of SQLite's 8.4).
 */
#define DB_READER_CACHE_KIB "256"

/*
 * The write-ahead log keeps its largest size after a checkpoint unless told
 * otherwise: a burst of writes while readers held old snapshots would leave
 * megabytes of dead log on a small disk. Past this, a reset log is cut back.
 */
#define DB_WAL_KEEP "1048576"

/*
 * A commit that brings the log to this many pages has it checkpointed.
 * SQLite's 1,000 pages came every ~25 publishes of a small charm (each
 * writes ~25-40 pages: the publish's own, its change's, the engine's); a
 * checkpoint writes each page once however often it changed, so a longer
 * interval also writes less: per 1,000 publishes 75 -> 21 fdatasync()s and
 * 48k -> 41k page writes. The log grows to ~16 MiB between checkpoints.
 * SQLite would run the checkpoint inside that commit, with its page copies
 * and two fdatasync()s (~10 ms here), in whichever call committed (a
 * publish's close(), often); the writer's connection instead wakes the
 * checkpointer thread, whose passive checkpoint runs beside the readers
 * and the writer.
 */
#define DB_WAL_CHECKPOINT 4000

static int conn_setup(sqlite3 *sql, bool sync_full, bool read_only, bool writer)
{
	const char *const pragmas[] = {
		"PRAGMA journal_mode=WAL",
		sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
		"PRAGMA foreign_keys=ON", "PRAGMA temp_store=MEMORY",
		"PRAGMA mmap_size=" DB_MMAP_SIZE, "PRAGMA journal_size_limit=" DB_WAL_KEEP,
		"PRAGMA wal_autocheckpoint=0", NULL,
	};
	/* Read-only: the journal mode is the file's (setting it may write the header). */
	const char *const *p = read_only ? pragmas + 2 : pragmas;

	sqlite3_busy_timeout(sql, 10000);
	for (; *p; p++) {
		int rc = sqlite3_exec(sql, *p, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return db_errno(rc);
	}
	if (!writer) {
		int rc = sqlite3_exec(sql, "PRAGMA cache_size=-" DB_READER_CACHE_KIB, NULL, NULL,
				      NULL);
		if (rc != SQLITE_OK)
			return db_errno(rc);
	}
	return 0;
}

/*
 * A new connection to db, in its list (db_close() closes it): the writer's
 * (db_write_begin()) or a thread's own. NULL on failure.
 */
static struct conn *conn_new(struct db *db, bool writer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->db = db;
	if (sqlite3_open_v2(db->path, &c->sql,
			    (db->read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
					   : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_extended_result_codes(c->sql, 1) != SQLITE_OK ||
	    conn_setup(c->sql, db->sync_full, db->read_only, writer) < 0) {
		conn_free(c);
		return NULL;
	}
	pthread_mutex_lock(&db->conns_lock);
	c->next = db->conns;
	if (db->conns)
		db->conns->prev = c;
	db->conns = c;
	pthread_mutex_unlock(&db->conns_lock);
	return c;
}

/* The calling thread's own connection, made on first use. */
static struct conn *conn_own(struct db *db)
{
	struct conn *c = pthread_getspecific(db->key);

	if (c)
		return c;
	c = conn_new(db, false);
	if (c)
		pthread_setspecific(db->key, c);
	return c;
}

/* The connection the calling thread uses now: the writer's inside a write transaction. */
static struct conn *conn_get(struct db *db)
{
	return writing == db ? db->writer : conn_own(db);
}

/* Keeps c's current error message (if any) for db_errmsg(), past a ROLLBACK. */
static void conn_keep_errmsg(struct conn *c)
{
	if (sqlite3_errcode(c->sql) != SQLITE_OK)
		snprintf(c->err, sizeof(c->err), "%s", sqlite3_errmsg(c->sql));
}

static struct stmt_slot *slot_find(struct stmt_slot *cache, size_t size, const char *sql)
{
	size_t k = ((uintptr_t)sql >> 3) % size;

	while (cache[k].key && cache[k].key != sql)
		k = (k + 1) % size;
	return &cache[k];
}

/* Makes room for one more statement: 0, or -ENOMEM. */
static int cache_reserve(struct conn *c)
{
	size_t size = c->cache_size ? c->cache_size * 2 : STMT_CACHE_MIN;
	struct stmt_slot *v;

	if (c->cache_used < c->cache_size / 2)
		return 0;
	v = calloc(size, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->cache_size; i++)
		if (c->cache[i].key)
			*slot_find(v, size, c->cache[i].key) = c->cache[i];
	free(c->cache);
	c->cache = v;
	c->cache_size = size;
	return 0;
}

sqlite3_stmt *db_prep(struct db *db, const char *sql)
{
	struct conn *c = conn_get(db);
	struct stmt_slot *slot;
	sqlite3_stmt *st = NULL;

	if (!c)
		return NULL;
	if (c->cache_size) {
		slot = slot_find(c->cache, c->cache_size, sql);
		if (slot->key)
			return slot->st;
	}
	if (cache_reserve(c) < 0)
		return NULL;
	if (sqlite3_prepare_v3(c->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		conn_keep_errmsg(c);
		return NULL;
	}
	slot = slot_find(c->cache, c->cache_size, sql);
	slot->key = sql;
	slot->st = st;
	c->cache_used++;
	return st;
}

void db_reset(sqlite3_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

const char *db_errmsg(struct db *db)
{
	struct conn *c = conn_get(db);

	if (!c)
		return "cannot open database connection";
	return sqlite3_errcode(c->sql) == SQLITE_OK && c->err[0] ? c->err : sqlite3_errmsg(c->sql);
}

int db_exec(struct db *db, const char *sql)
{
	struct conn *c = conn_get(db);

	if (!c)
		return -EIO;
	return db_errno(sqlite3_exec(c->sql, sql, NULL, NULL, NULL));
}

int db_shrink(struct db *db)
{
	struct conn *c = conn_get(db);
	int rc;

	if (!c)
		return -EIO;
	pthread_mutex_lock(&db->write_lock);
	rc = sqlite3_wal_checkpoint_v2(c->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	pthread_mutex_unlock(&db->write_lock);
	return db_errno(rc);
}

/*
 * Ends the calling thread's use of the writer's connection and releases
 * it; a failure's message (r < 0) goes to the thread's own connection, for
 * db_errmsg() after the transaction.
 */
static void writer_release(struct db *db, int r)
{
	struct conn *w = db->writer, *own;

	writing = db->outer_writing;
	db->outer_writing = NULL;
	/* Copied while the mutex is held: the next writer clears w->err. */
	own = r < 0 && w ? conn_own(db) : NULL;
	if (own && w->err[0])
		memcpy(own->err, w->err, sizeof(own->err));
	pthread_mutex_unlock(&db->write_lock);
}

static void *checkpointer(void *ud)
{
	struct db *db = ud;

	pthread_mutex_lock(&db->ckpt_lock);
	for (;;) {
		while (!db->ckpt_wanted && !db->ckpt_stop)
			pthread_cond_wait(&db->ckpt_cond, &db->ckpt_lock);
		if (db->ckpt_stop)
			break;
		db->ckpt_wanted = false;
		pthread_mutex_unlock(&db->ckpt_lock);
		struct conn *c = conn_own(db);
		if (c) {
			/*
			 * The bulk of the copy beside the writer; then, holding
			 * the writer mutex, the frames it added meanwhile, so
			 * that the checkpoint is complete and the next write
			 * transaction starts the log again from its beginning
			 * (a passive checkpoint alone never catches up with a
			 * steady writer, and the log would grow without end).
			 */
			(void)sqlite3_wal_checkpoint_v2(c->sql, NULL, SQLITE_CHECKPOINT_PASSIVE,
							NULL, NULL);
			pthread_mutex_lock(&db->write_lock);
			(void)sqlite3_wal_checkpoint_v2(c->sql, NULL, SQLITE_CHECKPOINT_PASSIVE,
							NULL, NULL);
			pthread_mutex_unlock(&db->write_lock);
		}
		pthread_mutex_lock(&db->ckpt_lock);
	}
	pthread_mutex_unlock(&db->ckpt_lock);
	return NULL;
}

/* After each commit on the writer's connection (under write_lock): wakes the checkpointer. */
static int wal_hook(void *ud, sqlite3 *sql, const char *name, int pages)
{
	struct db *db = ud;

	(void)sql;
	(void)name;
	/*
	 * A checkpoint that readers kept from finishing leaves the log long
	 * until one does: wake it again only after another quarter's growth.
	 */
	if (pages < DB_WAL_CHECKPOINT)
		db->ckpt_next = DB_WAL_CHECKPOINT;
	if (pages < db->ckpt_next)
		return SQLITE_OK;
	db->ckpt_next = pages + DB_WAL_CHECKPOINT / 4;
	pthread_mutex_lock(&db->ckpt_lock);
	if (!db->ckpt_started && !db->ckpt_stop)
		db->ckpt_started = pthread_create(&db->ckpt_thread, NULL, checkpointer, db) == 0;
	db->ckpt_wanted = true;
	pthread_cond_signal(&db->ckpt_cond);
	pthread_mutex_unlock(&db->ckpt_lock);
	return SQLITE_OK;
}

int db_write_begin(struct db *db)
{
	int r;

	if (db->read_only)
		return -EROFS;
	pthread_mutex_lock(&db->write_lock);
	if (!db->writer) {
		db->writer = conn_new(db, true);
		if (db->writer)
			sqlite3_wal_hook(db->writer->sql, wal_hook, db);
	}
	db->outer_writing = writing;
	writing = db;
	if (db->writer)
		db->writer->err[0] = '\0';
	r = db->writer ? db_exec(db, "BEGIN IMMEDIATE") : -EIO;
	if (r < 0) {
		if (db->writer)
			conn_keep_errmsg(db->writer);
		writer_release(db, r);
	}
	return r;
}

/* Keeps the calling thread's connection's current error message for db_errmsg(). */
static void keep_errmsg(struct db *db)
{
	struct conn *c = conn_get(db);

	if (c)
		conn_keep_errmsg(c);
}

int db_write_end(struct db *db, int r)
{
	if (r < 0)
		keep_errmsg(db);
	if (r == 0) {
		r = db_exec(db, "COMMIT");
		if (r < 0) {
			keep_errmsg(db);
			(void)db_exec(db, "ROLLBACK");
		}
	} else {
		(void)db_exec(db, "ROLLBACK");
	}
	writer_release(db, r);
	return r;
}

int db_read_begin(struct db *db, bool *ret_started)
{
	struct conn *c = conn_get(db);
	int r;

	*ret_started = false;
	if (!c)
		return -EIO;
	if (!sqlite3_get_autocommit(c->sql))
		return 0;
	r = db_exec(db, "BEGIN");
	*ret_started = r == 0;
	return r;
}

void db_read_end(struct db *db, bool started)
{
	if (started)
		(void)db_exec(db, "COMMIT");
}

int db_backup_to(struct db *db, const char *path)
{
	struct conn *c = conn_get(db);
	sqlite3_backup *b;
	sqlite3 *dst = NULL;
	int rc;

	if (!c)
		return -EIO;
	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close_v2(dst);
		return db_errno(rc);
	}
	b = sqlite3_backup_init(dst, "main", c->sql, "main");
	if (!b) {
		rc = sqlite3_errcode(dst);
	} else {
		rc = sqlite3_backup_step(b, -1);
		int fin = sqlite3_backup_finish(b);
		if (rc == SQLITE_DONE)
			rc = fin;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	sqlite3_close_v2(dst);
	return db_errno(rc);
}

int db_meta_get(struct db *db, const char *key, char **ret)
{
	sqlite3_stmt *st = db_prep(db, "SELECT value FROM meta WHERE key = ?");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char *v = strdup((const char *)sqlite3_column_text(st, 0));
		r = v ? 0 : -ENOMEM;
		if (v)
			*ret = v;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

/* The version in meta('schema'): 0 when there is none, INT32_MAX when it is not a number. */
static int schema_version(struct db *db, int *ret)
{
	char *v = NULL;
	int r = db_meta_get(db, "schema", &v);

	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (parse_nonneg_int(v, ret) < 0)
		*ret = INT32_MAX;
	free(v);
	return 0;
}

static int set_schema_version(struct db *db, int version)
{
	sqlite3_stmt *st = db_prep(db, "INSERT OR REPLACE INTO meta VALUES('schema', ?)");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, version);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

/* Runs step's statements and C part; inside the caller's write transaction. */
static int run_step(struct db *db, const struct db_step *step)
{
	int r = 0;

	for (size_t p = 0; r == 0 && step->sql && step->sql[p]; p++)
		for (size_t i = 0; r == 0 && step->sql[p][i]; i++)
			r = db_exec(db, step->sql[p][i]);
	if (r == 0 && step->fn)
		r = step->fn(db);
	return r;
}

/*
 * One transaction: reads the version and, when it is older than
 * schema->n, runs the next step and sets the version to its number.
 * *ret_done tells that the version was already the newest. 0 or -errno
 * (the transaction rolled back, a message in err).
 */
static int migrate_one(struct db *db, const struct db_schema *schema, bool *ret_done, char *err,
		       size_t errlen)
{
	int version = 0, r;

	*ret_done = false;
	r = db_write_begin(db);
	if (r < 0) {
		snprintf(err, errlen, "cannot lock database: %s", db_errmsg(db));
		return r;
	}
	r = db_exec(db, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
			" value TEXT NOT NULL)");
	if (r == 0)
		r = schema_version(db, &version);
	if (r < 0) {
		snprintf(err, errlen, "cannot read database schema version: %s", db_errmsg(db));
		return db_write_end(db, r);
	}
	if ((size_t)version > schema->n) {
		snprintf(err, errlen,
			 "store schema version %d is newer than this charmfs supports (%zu)",
			 version, schema->n);
		return db_write_end(db, -EPROTO);
	}
	if ((size_t)version == schema->n) {
		*ret_done = true;
		return db_write_end(db, 0);
	}
	r = run_step(db, &schema->steps[version]);
	if (r == 0)
		r = set_schema_version(db, version + 1);
	r = db_write_end(db, r);
	if (r < 0)
		snprintf(err, errlen,
			 "cannot upgrade database schema from version %d to %d (%s): %s;"
			 " it stays at version %d",
			 version, version + 1, schema->steps[version].what, db_errmsg(db), version);
	return r;
}

/* Runs every step the database has not had yet, each in its own transaction. */
static int migrate(struct db *db, const struct db_schema *schema, char *err, size_t errlen)
{
	bool done = false;
	int r = 0;

	while (r == 0 && !done)
		r = migrate_one(db, schema, &done, err, errlen);
	return r;
}

/* The database structure and the calling thread's first connection. */
static int db_new(const char *path, bool sync_full, bool read_only, struct db **ret, char *err,
		  size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));

	if (!db)
		return -ENOMEM;
	(void)sqlite3_soft_heap_limit64(DB_SOFT_HEAP_LIMIT);
	db->path = strdup(path);
	db->sync_full = sync_full;
	db->read_only = read_only;
	if (!db->path || pthread_key_create(&db->key, conn_thread_exit) != 0) {
		free(db->path);
		free(db);
		return -ENOMEM;
	}
	pthread_mutex_init(&db->conns_lock, NULL);
	pthread_mutex_init(&db->write_lock, NULL);
	pthread_mutex_init(&db->ckpt_lock, NULL);
	pthread_cond_init(&db->ckpt_cond, NULL);
	if (!conn_get(db)) {
		snprintf(err, errlen, "cannot open database %s", path);
		db_close(db);
		return -EIO;
	}
	*ret = db;
	return 0;
}

int db_open(const char *path, bool sync_full, const struct db_schema *schema, struct db **ret,
	    char *err, size_t errlen)
{
	struct db *db;
	int r;

	r = db_new(path, sync_full, false, &db, err, errlen);
	if (r < 0)
		return r;
	r = migrate(db, schema, err, errlen);
	if (r < 0) {
		db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

/*
 * The URI that opens path read-only. SQLite's read-only connections still
 * create an empty write-ahead log when there is none; without one the file
 * is the whole database and nobody may change it (the caller excludes the
 * daemon), so it is opened immutable: no log, no shared memory, no locks.
 */
static char *read_only_uri(const char *path)
{
	char wal[PATH_MAX];
	struct buf b;
	int r;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	buf_init(&b, 4 * PATH_MAX);
	r = buf_addf(&b, "file:");
	for (const char *p = path; r == 0 && *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("/._~-", ch))
			r = buf_addf(&b, "%c", ch);
		else
			r = buf_addf(&b, "%%%02X", ch);
	}
	if (r == 0)
		r = buf_addf(&b, "%s", access(wal, F_OK) == 0 ? "?mode=ro" : "?immutable=1");
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

int db_open_read_only(const char *path, const struct db_schema *schema, struct db **ret, char *err,
		      size_t errlen)
{
	struct db *db;
	char *uri;
	int version = 0, r;

	if (access(path, F_OK) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open database %s: %s", path, strerror(errno));
		return r;
	}
	uri = read_only_uri(path);
	if (!uri)
		return -ENOMEM;
	r = db_new(uri, false, true, &db, err, errlen);
	free(uri);
	if (r < 0)
		return r;
	r = schema_version(db, &version);
	if (r == 0 && version == 0) {
		snprintf(err, errlen, "%s has no charmfs schema: no version", path);
		r = -EPROTO;
	} else if (r == 0 && (size_t)version != schema->n) {
		bool newer = (size_t)version > schema->n;
		snprintf(err, errlen, "store schema version %d is %s than this charmfs's (%zu)%s",
			 version, newer ? "newer" : "older", schema->n,
			 newer ? "" : ": mount it once to upgrade it");
		r = -EPROTO;
	} else if (r < 0) {
		snprintf(err, errlen, "%s has no charmfs schema: %s", path, db_errmsg(db));
		r = -EPROTO;
	}
	if (r < 0) {
		db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&db->ckpt_lock);
	db->ckpt_stop = true;
	pthread_cond_signal(&db->ckpt_cond);
	pthread_mutex_unlock(&db->ckpt_lock);
	if (db->ckpt_started)
		pthread_join(db->ckpt_thread, NULL);
	pthread_mutex_lock(&db->conns_lock);
	while (db->conns) {
		struct conn *c = db->conns;
		conn_unlink(db, c);
		conn_free(c);
	}
	pthread_mutex_unlock(&db->conns_lock);
	pthread_setspecific(db->key, NULL);
	pthread_key_delete(db->key);
	pthread_mutex_destroy(&db->conns_lock);
	pthread_mutex_destroy(&db->write_lock);
	pthread_mutex_destroy(&db->ckpt_lock);
	pthread_cond_destroy(&db->ckpt_cond);
	free(db->path);
	free(db);
}
