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

#include "db.h"
#include "store.h"

enum { EVENT_PUBLISHED = 1, EVENT_PUBLISH_ERROR = 2 };

/* The holder command of the locks a publish takes on its own. */
#define STORE_PUBLISH_HOLDER "charmfs publish"

struct store {
	char *dir;
	char scratch[PATH_MAX];
	struct store_opts opts;
	struct db *db;
	int lock_fd;
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
/* Inserts an event inside the caller's write transaction. */
int store_event_insert(struct store *s, int kind, const struct url *urls, size_t n_urls,
		       int revision, const char *digest, const struct strv *errors,
		       const struct strv *warnings, int64_t t_ns);
/* Records a publish-error event in its own transaction. */
int store_log_error_event(struct store *s, const struct url *urls, size_t n_urls,
			  const char *digest, const struct strv *errors,
			  const struct strv *warnings);

#endif
