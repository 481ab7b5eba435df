/*
 * Extracted trees (trees/SHA256/): the files/ view, metadata.yaml and
 * config.yaml of a revision. A tree is derived data: it is made from the
 * stored archive after the publish has returned, by a job on the store's
 * background worker (worker.c, SCHED_IDLE), or at once when something
 * needs it first (store_trees_ready()). It is built under tmp/ and
 * renamed into place, so a tree is either whole or absent, two extractions
 * of one tree are harmless (the second rename loses), and it can always be
 * made again from its archive (a restored backup copy holds archives only).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charm.h"
#include "storetree.h"
#include "banned.h"

struct store_trees {
	struct tree_env env;
	struct worker *work;
	pthread_mutex_t now_mu; /* one extraction at a time in store_trees_ready() */
};

/* STOREDIR's layout (store.h). */
static void blob_path(const struct store_trees *t, const char *sha, char *out, size_t len)
{
	snprintf(out, len, "%s/blobs/%s.charm", t->env.dir, sha);
}

static void tree_path(const struct store_trees *t, const char *sha, char *out, size_t len)
{
	snprintf(out, len, "%s/trees/%s", t->env.dir, sha);
}

static bool tree_exists(const struct store_trees *t, const char *sha)
{
	char path[PATH_MAX];
	struct stat sb;

	tree_path(t, sha, path, sizeof(path));
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The revision number recorded in the archive with this SHA-256. */
static int revision_of(struct store_trees *t, const char *sha, int *ret)
{
	sqlite3_stmt *st = db_prep(t->env.db, "SELECT revision FROM revisions WHERE sha256 = ? LIMIT 1");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(st, 0);
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
}

/* Builds trees/SHA from blobs/SHA.charm under tmp/, then renames it into place. */
static int extract(struct store_trees *t, const char *sha)
{
	struct strv e = { 0 }, w = { 0 };
	struct charm *c = NULL;
	char blob[PATH_MAX], tree[PATH_MAX], tmp[PATH_MAX];
	int revision = 0, r;

	blob_path(t, sha, blob, sizeof(blob));
	tree_path(t, sha, tree, sizeof(tree));
	snprintf(tmp, sizeof(tmp), "%s/tmp/tree-XXXXXX", t->env.dir);
	r = revision_of(t, sha, &revision);
	if (r == 0)
		r = charm_open(blob, t->env.limits, &c, &e, &w);
	if (r == 0 && !mkdtemp(tmp))
		r = -errno;
	if (r == 0 && chmod(tmp, 0755) < 0)
		r = -errno;
	if (r == 0)
		r = charm_store(c, revision, -1, tmp);
	if (r == 0 && rename(tmp, tree) < 0)
		r = errno == ENOTEMPTY || errno == EEXIST ? 0 : -errno;
	if (r < 0 || tree_exists(t, sha))
		(void)rm_rf(tmp);
	charm_free(c);
	strv_clear(&e);
	strv_clear(&w);
	return r;
}

int store_trees_ready(struct store_trees *t, const char *sha)
{
	int r = 0;

	if (tree_exists(t, sha))
		return 0;
	pthread_mutex_lock(&t->now_mu);
	if (!tree_exists(t, sha))
		r = extract(t, sha);
	pthread_mutex_unlock(&t->now_mu);
	return r;
}

/* A job on the worker's thread. */
static void tree_job(void *ud, const char *sha)
{
	struct store_trees *t = ud;

	if (!tree_exists(t, sha))
		(void)extract(t, sha);
}

void store_trees_later(struct store_trees *t, const char *sha)
{
	(void)worker_submit(t->work, tree_job, t, sha);
}

int store_trees_new(const struct tree_env *env, struct worker *work, struct store_trees **ret)
{
	struct store_trees *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->env = *env;
	t->work = work;
	pthread_mutex_init(&t->now_mu, NULL);
	*ret = t;
	return 0;
}

void store_trees_free(struct store_trees *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->now_mu);
	free(t);
}
