/*
 * What the store's source files share and nobody else sees: the store
 * structure and the helpers that cross between them.
 *
 * Structure. Calls go one way only (A -> B: A calls functions of B), so
 * the store's files have no cycle:
 *
 *   store.c       -> backup.c, storecheck.c, storeevents.c, storetree.c,
 *                    worker.c, pkglife.c, storebase.c
 *   pkg.c, pkghook.c -> pkgdata.c, pkglife.c, storebase.c (pkg_int.h)
 *   pkgdata.c     -> store.c, storefiles.c, storebase.c
 *   pkglife.c     -> storetree.c
 *   storepub.c    -> storeevents.c, storefiles.c, storebase.c
 *   storecheck.c  -> storetree.c, storebase.c
 *   storeevents.c -> storebase.c
 *   backup.c      -> storebase.c (store_backup() only)
 *   storetree.c, storefiles.c, storebase.c, worker.c: none of them
 * (store.c, storepub.c and storetree.c also call the change engine,
 * engine.h, which calls no store file: storetree.c's handler reaches it
 * through the ud it was registered with.)
 * (storetree.c and storepub.c also call charm_store() of charmstore.c,
 * which is the charm module's, calls none of these and includes only
 * charm_int.h.)
 *
 *  - storebase.c: the accessors of struct store, STOREDIR's paths,
 *    store_now_ns(), store_bind_url(). The bottom.
 *  - worker.c (worker.h): the count of background work done outside the
 *    engine (backup snapshots, entered in a caller's thread), with one
 *    quiesce and one stop. Knows nothing of the store.
 *  - storetree.c (storetree.h): tree extraction, made by store.c with a
 *    struct tree_env (STOREDIR, the database, the limits); its handler
 *    runs the extract-tree tasks of publish changes on the engine.
 *  - backup.c (backup.h for fs/, backup_int.h for store.c): the life of
 *    backup snapshots, made by store.c with a struct backup_source whose
 *    snapshot function is store.c's snapshot path.
 *  - store.c: opening and closing (it owns the engine, the worker count
 *    and both components and is the only one to create, stop and free
 *    them; it registers the extract-tree handler), reads, deletion,
 *    the snapshot path (entered on the worker, under pub_lock, after
 *    flushing the counter log) and store_quiesce(). No store file calls it.
 *  - storepub.c (publishing), storefiles.c (files/), storeevents.c (the
 *    event log), storecheck.c (--check and the start-up sweep).
 */
#ifndef CHARMFS_STORE_INT_H
#define CHARMFS_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "charm.h"
#include "db.h"
#include "store.h"

/* The database and the counter log, for the backend modules under the store (locks, counters, queries). */
struct db *store_db(struct store *s);
/* NULL for a store opened read-only. */
struct counter_log *store_counters(struct store *s);

enum { EVENT_PUBLISHED = 1, EVENT_PUBLISH_ERROR = 2, EVENT_DELETED = 3 };

/* The longest event line, with its newline (SPEC §4.3). */
#define EVENT_LINE_MAX 16384

/*
 * One charm event as recorded (SPEC §4.3). Publish events use revision,
 * digest, errors and warnings (either list may be NULL); deleted events use
 * revisions. Lists too long for one line are cut: a string list ends in
 * "… and N more", a cut revisions list comes with "revisions-left-out": N.
 */
struct store_event {
	int kind;                  /* EVENT_* */
	const struct url *urls;
	size_t n_urls;
	int revision;
	const char *digest;
	const struct strv *errors;
	const struct strv *warnings;
	const int *revisions;      /* ascending */
	size_t n_revisions;
	uid_t uid;                 /* who caused it */
	int64_t t_ns;
};

/* The holder command of the locks a publish takes on its own. */
#define STORE_PUBLISH_HOLDER "charmfs publish"

struct store {
	char *dir;
	char scratch[PATH_MAX];
	struct store_opts opts;
	struct db *db;
	int lock_fd;
	int trees_fd;		  /* trees/ (O_PATH), or -1 when it does not exist */
	pthread_mutex_t pub_lock; /* publishes, deletions and snapshots, one at a time */
	_Atomic int64_t changed_ns;
	_Atomic int64_t events_ns;
	/* The read cache and its generations (storecache.h, store_mark_changed()). */
	struct store_cache *cache;
	_Atomic int64_t gen_changes;   /* moves with every change */
	_Atomic int64_t gen_deletions; /* moves with every deletion */
	struct worker *work;	     /* all background work (worker.h) */
	struct store_trees *trees;   /* tree extraction (storetree.h), on work */
	struct backup_state *backup; /* snapshots (backup_int.h), counted on work */
	struct counter_log *counters;
	struct engine *engine;	  /* changes and tasks (engine.h); NULL when read-only */
	struct evhooks *evhooks;  /* event hooks (evhook.h) */
	pthread_mutex_t lock_mu;  /* lock takes against publishes in flight */
	struct strv publishing;   /* URLs (cs:... strings) a publish holds right now */
	struct pkg_life *pkg;	  /* packages (pkglife.h) */
};

/* Bytes the read cache (storecache.h) may keep. */
#define STORE_CACHE_BYTES (4 << 20)

/*
 * After a change committed, before its call returns: the change time and
 * the time of the newest event become t, and the read cache's
 * generations move (every change moves gen_changes, a deletion
 * gen_deletions too), so nothing read before the change is served after.
 */
void store_mark_changed(struct store *s, int64_t t, bool deletion);

/* ---- storebase.c: any thread ---- */

int64_t store_now_ns(void);
/* Binds u's user, series and name to parameters first..first+2 of st. */
void store_bind_url(sqlite3_stmt *st, int first, const struct url *u);
/* The package component of s (pkg.c finds its state with it). */
struct pkg_life *store_pkg(struct store *s);
/* The backup component of s (backup.c finds its state with it). */
struct backup_state *store_backup(struct store *s);

/* ---- store.c ---- */

/*
 * The one quiesce of the store's background work: returns once no
 * extract-tree task is unready (Do or Doing: engine_settle_kind()) and no
 * backup snapshot is being taken. Work that starts after it returns (a
 * concurrent publish's tree) is not waited for. Only after store_start()
 * (a task is not run before); any thread that is not itself doing
 * background work (not from an engine handler).
 */
void store_quiesce(struct store *s);

/* ---- storecheck.c ---- */

/* Is an archive with this SHA-256 referenced by any revision? (true when unsure) */
bool store_sha_referenced(struct store *s, const char *sha);
/* Lists (and with remove, deletes) files of STOREDIR/sub no revision references. */
int store_sweep_orphans(struct store *s, const char *sub, const char *suffix, bool remove,
			struct strv *notes);

/* ---- storefiles.c ---- */

/* The small files' data of a charm being stored, by entry index. */
struct store_inline {
	const struct charm_entry *entries;
	size_t n;
	void **data; /* NULL: not kept (too big, or over the per-revision total) */
	size_t *len;
	size_t total;
};
int store_inline_init(struct store_inline *in, const struct charm *c);
int store_inline_add(void *ud, const struct charm_entry *e, const void *data, size_t len);
void store_inline_free(struct store_inline *in);
/* Inserts revision row id's files/ rows; *ret_all_inline: no file needs the tree. */
int store_files_record(struct store *s, sqlite3_int64 id, int revision,
		       const struct store_inline *in, bool *ret_all_inline);

/* ---- storeevents.c ---- */

/*
 * Inserts an event inside the caller's write transaction: its line (at
 * most EVENT_LINE_MAX bytes, text that is not UTF-8 made valid) in events,
 * its URLs in event_urls. 0 or -errno.
 */
int store_event_insert(struct store *s, const struct store_event *ev) WUR;

#endif
