/*
 * The package component as the store core and pkg.c see it (pkglife.c):
 * the packages' tables, their files beside the database, the order of a
 * package's changes, and the two task kinds the store registers (deploy,
 * purge). It calls nothing of the store's own files: what it needs comes
 * in struct pkg_env, and the engine through pkg_life_set_engine().
 *
 * Calling sequence (the store core owns it):
 *   pkg_life_new(&env, &l)
 *   pkg_life_set_engine(l, e); engine_add_handler(e, PKG_TASK_DEPLOY, pkg_deploy_task, NULL, l) ...
 *   pkg.c: pkg_life_lock(l) ... pkg_life_unlock(l) around each write
 *   engine_close(e)                      no task runs after it
 *   pkg_life_free(l)
 */
#ifndef CHARMFS_PKGLIFE_H
#define CHARMFS_PKGLIFE_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "util.h"

struct engine;
struct engine_run;
struct store_trees;

/* Copies the revision's tree into packages/NAME/charm; data {"package":..., "sha256":...}. */
#define PKG_TASK_DEPLOY "deploy"
/* Deletes a removed package (unless re-created); data {"package":...}. */
#define PKG_TASK_PURGE "purge"

/* Which write recorded a change (pkg_changes.kind). */
enum pkg_change_kind {
	PKG_CH_DEPLOY = 1,  /* first version, version change, retry after a failed install */
	PKG_CH_CONFIG = 2,  /* settings */
	PKG_CH_ENABLE = 3,
	PKG_CH_DISABLE = 4,
	PKG_CH_REMOVE = 5,
};

/* The tables of packages (schema step 4); NULL-terminated, idempotent. */
extern const char *const pkg_schema[];

struct pkg_env {
	const char *dir;	   /* STOREDIR: packages/ lives below it */
	struct db *db;
	struct store_trees *trees; /* the extracted trees deploys copy */
};

struct pkg_life;

/* A new component; env is copied. 0 or -ENOMEM. */
int pkg_life_new(const struct pkg_env *env, struct pkg_life **ret) WUR;
/* Frees l after the engine that runs its tasks is closed. NULL is fine. */
void pkg_life_free(struct pkg_life *l);
/* The engine whose changes the order rule reads (before engine_start()). */
void pkg_life_set_engine(struct pkg_life *l, struct engine *e);
struct engine *pkg_life_engine(struct pkg_life *l);
struct db *pkg_life_db(struct pkg_life *l);

/* The writers' mutex: one package write (or purge) at a time. */
void pkg_life_lock(struct pkg_life *l);
void pkg_life_unlock(struct pkg_life *l);

/* STOREDIR/packages/NAME[/sub] into out. -ENAMETOOLONG. */
int pkg_life_path(const struct pkg_life *l, const char *name, const char *sub, char *out,
		  size_t len) WUR;
/* Makes packages/NAME and its state/ (0700) unless they exist (charm/: pkg_life_ensure_charm()). */
int pkg_life_mkdirs(struct pkg_life *l, const char *name) WUR;
/*
 * Makes packages/NAME/charm a copy of the tree of the archive sha256,
 * replacing what was there in one rename, and records it as deployed;
 * nothing when it is deployed already. Takes the writers' mutex itself,
 * around the checks and the rename only: the copy runs without it, so
 * other packages' writes go on meanwhile. -ENOENT when the package went.
 * 0 or -errno.
 */
int pkg_life_deploy(struct pkg_life *l, const char *name, const char *sha256) WUR;
/*
 * Makes charm/ when it is missing: from the recorded deployed archive (a
 * restored copy), or empty when nothing was deployed. 0 or -errno.
 */
int pkg_life_ensure_charm(struct pkg_life *l, const char *name) WUR;

/*
 * The ids of the package's changes that are not ready (of the kinds in
 * mask: bit 1 << kind; 0 for all) and older than before (0: any), into a
 * new array. Changes found ready (or pruned) are forgotten. Outside any
 * write transaction. 0 or -errno.
 */
int pkg_life_unready(struct pkg_life *l, const char *name, unsigned mask, int64_t before,
		     int64_t **ret, size_t *ret_n) WUR;
/* Remembers change id as the package's, in the caller's write transaction. */
int pkg_life_note_change(struct pkg_life *l, const char *name, int64_t id,
			 enum pkg_change_kind kind) WUR;
/* Forgets every change of the package, in the caller's write transaction. */
int pkg_life_forget(struct pkg_life *l, const char *name) WUR;

/*
 * Copies every packages/NAME/state/ tree into dir/packages/NAME/state/
 * for a backup snapshot (dir is the snapshot STOREDIR). 0 or -errno.
 */
int pkg_life_snapshot(struct pkg_life *l, const char *dir) WUR;

/* The engine handlers of PKG_TASK_DEPLOY and PKG_TASK_PURGE (ud: the struct pkg_life). */
int pkg_deploy_task(struct engine_run *run, void *ud);
int pkg_purge_task(struct engine_run *run, void *ud);

#endif
