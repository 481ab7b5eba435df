/*
 * Extracted trees (trees/SHA256/): the files/ view, metadata.yaml and
 * config.yaml of a revision. A tree is derived data: it is made from the
 * stored archive after the publish has returned, by a worker thread in the
 * SCHED_IDLE class (it uses CPU time nothing else wants, so a burst of
 * publishes is not slowed by the trees of the ones before), or at once when
 * something needs it first (store_tree_ready()). It is built under tmp/ and
 * renamed into place, so a tree is either whole or absent, two extractions
 * of one tree are harmless (the second rename loses), and it can always be
 * made again from its archive (a restored backup copy holds archives only).
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
#include "store_int.h"
#include "banned.h"

struct tree_job {
	char sha[65];
	struct tree_job *next;
};

struct tree_worker {
	pthread_mutex_t lock;    /* the queue */
	pthread_mutex_t now_mu;  /* one extraction at a time in store_tree_ready() */
	pthread_cond_t cond;
	pthread_t thread;
	bool running;
	bool stop;
	struct tree_job *head, *tail;
};

static bool tree_exists(struct store *s, const char *sha)
{
	char path[PATH_MAX];
	struct stat sb;

	store_tree_path(s, sha, path, sizeof(path));
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The revision number recorded in the archive with this SHA-256. */
static int revision_of(struct store *s, const char *sha, int *ret)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT revision FROM revisions WHERE sha256 = ? LIMIT 1");
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
static int extract(struct store *s, const char *sha)
{
	struct strv e = { 0 }, w = { 0 };
	struct charm *c = NULL;
	char blob[PATH_MAX], tree[PATH_MAX], tmp[PATH_MAX];
	int revision = 0, r;

	store_blob_path(s, sha, blob, sizeof(blob));
	store_tree_path(s, sha, tree, sizeof(tree));
	snprintf(tmp, sizeof(tmp), "%s/tmp/tree-XXXXXX", s->dir);
	r = revision_of(s, sha, &revision);
	if (r == 0)
		r = charm_open(blob, &s->opts.limits, &c, &e, &w);
	if (r == 0 && !mkdtemp(tmp))
		r = -errno;
	if (r == 0 && chmod(tmp, 0755) < 0)
		r = -errno;
	if (r == 0)
		r = charm_store(c, revision, -1, tmp);
	if (r == 0 && rename(tmp, tree) < 0)
		r = errno == ENOTEMPTY || errno == EEXIST ? 0 : -errno;
	if (r < 0 || tree_exists(s, sha))
		(void)rm_rf(tmp);
	charm_free(c);
	strv_clear(&e);
	strv_clear(&w);
	return r;
}

int store_tree_ready(struct store *s, const char *sha)
{
	int r = 0;

	if (tree_exists(s, sha))
		return 0;
	pthread_mutex_lock(&s->trees->now_mu);
	if (!tree_exists(s, sha))
		r = extract(s, sha);
	pthread_mutex_unlock(&s->trees->now_mu);
	return r;
}

static void *worker_main(void *arg)
{
	struct store *s = arg;
	struct tree_worker *w = s->trees;
	struct sched_param sp = { 0 };

	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break;
		struct tree_job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		if (!tree_exists(s, j->sha))
			(void)extract(s, j->sha);
		free(j);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void store_tree_later(struct store *s, const char *sha)
{
	struct tree_worker *w = s->trees;
	struct tree_job *j = calloc(1, sizeof(*j));

	if (!j)
		return; /* made on first use instead */
	snprintf(j->sha, sizeof(j->sha), "%s", sha);
	pthread_mutex_lock(&w->lock);
	/* Started on first use: the daemon forks after opening the store. */
	if (!w->running && !w->stop &&
	    pthread_create(&w->thread, NULL, worker_main, s) == 0)
		w->running = true;
	if (!w->running) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		return;
	}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int store_trees_init(struct store *s)
{
	s->trees = calloc(1, sizeof(*s->trees));
	if (!s->trees)
		return -ENOMEM;
	pthread_mutex_init(&s->trees->lock, NULL);
	pthread_mutex_init(&s->trees->now_mu, NULL);
	pthread_cond_init(&s->trees->cond, NULL);
	return 0;
}

void store_trees_stop(struct store *s)
{
	struct tree_worker *w = s->trees;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (w->running)
		pthread_join(w->thread, NULL);
	while (w->head) {
		struct tree_job *j = w->head;
		w->head = j->next;
		free(j);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->now_mu);
	pthread_cond_destroy(&w->cond);
	free(w);
	s->trees = NULL;
}
