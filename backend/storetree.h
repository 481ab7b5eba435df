/*
 * Tree extraction (storetree.c), a component of the store: the store core
 * creates it with what it needs (struct tree_env) and registers its task
 * handler on the store's change engine; the component calls nothing of
 * the store's own files.
 *
 * Calling sequence (the store core owns it):
 *   store_trees_new(&env, &t)
 *   engine_add_handler(e, STORE_TASK_EXTRACT, store_trees_task, NULL, t)
 *   a publish records an extract-tree task whose data is the SHA-256
 *   store_trees_ready(t, sha) ...     when a tree is needed now (any thread)
 *   engine_close(e)                   no task runs after it
 *   store_trees_free(t)
 */
#ifndef CHARMFS_STORETREE_H
#define CHARMFS_STORETREE_H

#include "charm.h"
#include "db.h"

struct engine_run;

/* The task kind that extracts a tree; its data is the archive's SHA-256 (64 hex digits). */
#define STORE_TASK_EXTRACT "extract-tree"

/* What extraction needs from the store; every pointer outlives the component. */
struct tree_env {
	const char *dir;                   /* STOREDIR (blobs/, trees/ and tmp/ below it) */
	struct db *db;                     /* the revisions table */
	const struct charm_limits *limits; /* for opening archives */
};

struct store_trees;

/* A new component; env is copied (not what it points to). 0 or -ENOMEM. */
int store_trees_new(const struct tree_env *env, struct store_trees **ret) WUR;
/* Frees t; call after the engine that runs its tasks is closed. NULL is fine. */
void store_trees_free(struct store_trees *t);

/*
 * Makes sure the tree of the archive with this SHA-256 exists, extracting
 * it now if not (one extraction at a time). 0 or -errno.
 */
int store_trees_ready(struct store_trees *t, const char *sha256) WUR;

/*
 * The engine handler of STORE_TASK_EXTRACT (ud: the struct store_trees):
 * makes the tree named by the task's data unless it exists, in the
 * SCHED_IDLE class on a helper thread it joins. Done too when no revision
 * holds the archive any more (it was deleted before the task ran); Error,
 * with the reason in the task's log, when the archive cannot be extracted
 * (the tree is then made on first need, or reported by --check).
 */
int store_trees_task(struct engine_run *run, void *ud);

#endif
