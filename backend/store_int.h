/*
 * What the store's source files (store.c, storeevents.c, storepub.c,
 * storecheck.c) share and nobody else sees: the store structure and the
 * helpers that cross between them.
 */
#ifndef CHARMFS_STORE_INT_H
#define CHARMFS_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "charm.h"
#include "db.h"
#include "store.h"

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
	pthread_mutex_t pub_lock;
	_Atomic int64_t changed_ns;
	_Atomic int64_t events_ns;
	struct backup_state *backup;
	struct tree_worker *trees;
	struct counter_log *counters;
	pthread_mutex_t lock_mu;  /* lock takes against publishes in flight */
	struct strv publishing;   /* URLs (cs:... strings) a publish holds right now */
};


int64_t store_now_ns(void);
void store_bind_url(sqlite3_stmt *st, int first, const struct url *u);
/* Is an archive with this SHA-256 referenced by any revision? (true when unsure) */
bool store_sha_referenced(struct store *s, const char *sha);
/* Lists (and with remove, deletes) files of STOREDIR/sub no revision references. */
int store_sweep_orphans(struct store *s, const char *sub, const char *suffix, bool remove,
			struct strv *notes);
/* Trees (storetree.c): set up / stop the worker, queue a tree. */
int store_trees_init(struct store *s);
void store_trees_stop(struct store *s);
void store_tree_later(struct store *s, const char *sha);
/* The small files' data of a charm being stored (storefiles.c), by entry index. */
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
/*
 * Inserts an event inside the caller's write transaction: its line (at
 * most EVENT_LINE_MAX bytes, text that is not UTF-8 made valid) in events,
 * its URLs in event_urls. 0 or -errno.
 */
int store_event_insert(struct store *s, const struct store_event *ev) WUR;
/* Records ev as a publish-error event, now, in its own transaction. */
int store_log_error_event(struct store *s, const struct store_event *ev);

#endif
