/*
 * Tree extraction (storetree.c), a background-work component of the
 * store: the store core creates it with what it needs (struct tree_env)
 * and the store's worker (worker.h), which runs its jobs; the component
 * calls nothing of the store's own files.
 *
 * Calling sequence (the store core owns it):
 *   store_trees_new(&env, work, &t)
 *   store_trees_later(t, sha) ...     after a publish (any thread)
 *   store_trees_ready(t, sha) ...     when a tree is needed now (any thread)
 *   worker_stop(work)                 the store's one stop: no job runs after it
 *   store_trees_free(t)
 */
#ifndef CHARMFS_STORETREE_H
#define CHARMFS_STORETREE_H

#include "charm.h"
#include "db.h"
#include "worker.h"

/* What extraction needs from the store; every pointer outlives the component. */
struct tree_env {
	const char *dir;                   /* STOREDIR (blobs/, trees/ and tmp/ below it) */
	struct db *db;                     /* the revisions table */
	const struct charm_limits *limits; /* for opening archives */
};

struct store_trees;

/* A new component; env is copied (not what it points to). 0 or -ENOMEM. */
int store_trees_new(const struct tree_env *env, struct worker *work, struct store_trees **ret) WUR;
/* Frees t; call after worker_stop() of its worker. NULL is fine. */
void store_trees_free(struct store_trees *t);

/*
 * Queues the extraction of the tree of the archive with this SHA-256 on
 * the worker. When it cannot be queued, the tree is made on first need
 * instead (store_trees_ready()).
 */
void store_trees_later(struct store_trees *t, const char *sha256);

/*
 * Makes sure the tree of the archive with this SHA-256 exists, extracting
 * it now if not (one extraction at a time). 0 or -errno.
 */
int store_trees_ready(struct store_trees *t, const char *sha256) WUR;

#endif
