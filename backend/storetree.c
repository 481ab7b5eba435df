/*
 * Extracted trees (trees/SHA256/): the files/ view, metadata.yaml and
 * config.yaml of a revision. A tree is derived data: it is made from the
 * stored archive after the publish has returned, by the publish change's
 * extract-tree task on the change engine (store_trees_task(), in the
 * SCHED_IDLE class), or at once when something needs it first
 * (store_trees_ready()). It is built under tmp/ and renamed into place,
 * so a tree is either whole or absent, two extractions of one tree are
 * harmless (the second rename loses), and it can always be made again
 * from its archive (a restored backup copy holds archives only). That is
 * also what makes the task idempotent: run again after a crash, it finds
 * the tree made, or makes it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charm.h"
#include "engine.h"
#include "storetree.h"
#include "banned.h"

struct store_trees {
	struct tree_env env;
	pthread_mutex_t now_mu; /* one extraction at a time in store_trees_ready() */
	pthread_mutex_t idle_mu; /* the idle thread's queue */
	pthread_cond_t idle_work, idle_done;
	struct idle_build *idle_q;
	bool idle_quit, idle_started;
	pthread_t idle;
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
static int revision_of(const struct store_trees *t, const char *sha, int *ret)
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

/* Builds trees/SHA from blobs/SHA.charm (revision: its number) under tmp/, then renames it into place. */
static int build(const struct store_trees *t, const char *sha, int revision)
{
	struct strv e = { 0 }, w = { 0 };
	struct charm *c = NULL;
	char blob[PATH_MAX], tree[PATH_MAX], tmp[PATH_MAX];
	int r;

	blob_path(t, sha, blob, sizeof(blob));
	tree_path(t, sha, tree, sizeof(tree));
	snprintf(tmp, sizeof(tmp), "%s/tmp/tree-XXXXXX", t->env.dir);
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
	int revision = 0, r = 0;

	if (tree_exists(t, sha))
		return 0;
	pthread_mutex_lock(&t->now_mu);
	if (!tree_exists(t, sha)) {
		r = revision_of(t, sha, &revision);
		if (r == 0)
			r = build(t, sha, revision);
	}
	pthread_mutex_unlock(&t->now_mu);
	return r;
}

/* ---- the extract-tree task ------------------------------------------------------ */

/*
 * A build the idle thread makes for a task's handler, which waits for it.
 * The thread is made once (store_trees_new()) and lives until
 * store_trees_free(): making a thread per extraction costs the publishes
 * running meanwhile more than the extraction (each creation and exit
 * takes the process's memory-map lock, which a SCHED_IDLE thread may be
 * holding while the busy CPUs starve it).
 */
struct idle_build {
	const char *sha;
	int revision;
	int r;
	bool done;
	struct idle_build *next;
};

static void *idle_main(void *p)
{
	struct store_trees *t = p;
	struct sched_param sp = { 0 };

	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	pthread_mutex_lock(&t->idle_mu);
	for (;;) {
		struct idle_build *b;

		while (!t->idle_quit && !t->idle_q)
			pthread_cond_wait(&t->idle_work, &t->idle_mu);
		if (!t->idle_q)
			break;
		b = t->idle_q;
		t->idle_q = b->next;
		pthread_mutex_unlock(&t->idle_mu);
		b->r = build(t, b->sha, b->revision);
		pthread_mutex_lock(&t->idle_mu);
		b->done = true;
		pthread_cond_broadcast(&t->idle_done);
	}
	pthread_mutex_unlock(&t->idle_mu);
	return NULL;
}

/*
 * build() in the SCHED_IDLE class, on the idle thread, one build at a
 * time, waited for: an unprivileged thread cannot leave SCHED_IDLE again
 * (it needs RLIMIT_NICE or CAP_SYS_NICE), so the engine's worker never
 * enters it. Without the thread (it could not be made), the worker builds.
 */
static int build_idle(struct store_trees *t, const char *sha, int revision)
{
	struct idle_build b = { .sha = sha, .revision = revision }, **q;

	if (!t->idle_started)
		return build(t, sha, revision);
	pthread_mutex_lock(&t->idle_mu);
	for (q = &t->idle_q; *q; q = &(*q)->next)
		;
	*q = &b;
	pthread_cond_signal(&t->idle_work);
	while (!b.done)
		pthread_cond_wait(&t->idle_done, &t->idle_mu);
	pthread_mutex_unlock(&t->idle_mu);
	return b.r;
}

static bool sha_valid(const char *sha)
{
	return sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64;
}

int store_trees_task(struct engine_run *run, void *ud)
{
	struct store_trees *t = ud;
	const char *sha = engine_run_data(run);
	int revision = 0, r;

	if (!sha_valid(sha))
		return engine_run_fail(run, -EINVAL, "the task names no archive SHA-256");
	if (tree_exists(t, sha)) {
		(void)engine_run_logf(run, false, "the tree exists already");
		return 0;
	}
	if (engine_run_stopping(run))
		return engine_run_retry(run, 0);
	r = revision_of(t, sha, &revision);
	if (r == -ENOENT) {
		(void)engine_run_logf(run, false, "no revision holds the archive any more");
		return 0;
	}
	if (r == 0)
		r = build_idle(t, sha, revision);
	if (r < 0)
		return engine_run_fail(run, r, "cannot extract the tree: %s", strerror(-r));
	return 0;
}

int store_trees_new(const struct tree_env *env, struct store_trees **ret)
{
	struct store_trees *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->env = *env;
	pthread_mutex_init(&t->now_mu, NULL);
	pthread_mutex_init(&t->idle_mu, NULL);
	pthread_cond_init(&t->idle_work, NULL);
	pthread_cond_init(&t->idle_done, NULL);
	t->idle_started = pthread_create(&t->idle, NULL, idle_main, t) == 0;
	*ret = t;
	return 0;
}

void store_trees_free(struct store_trees *t)
{
	if (!t)
		return;
	if (t->idle_started) {
		pthread_mutex_lock(&t->idle_mu);
		t->idle_quit = true;
		pthread_cond_signal(&t->idle_work);
		pthread_mutex_unlock(&t->idle_mu);
		pthread_join(t->idle, NULL);
	}
	pthread_cond_destroy(&t->idle_done);
	pthread_cond_destroy(&t->idle_work);
	pthread_mutex_destroy(&t->idle_mu);
	pthread_mutex_destroy(&t->now_mu);
	free(t);
}
