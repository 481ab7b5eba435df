/*
 * Invalidation batches. Each batch runs on a thread of its own (the
 * kernel must not be told from the thread answering the request); its
 * handler waits for it, with a time limit so that an unexpected kernel lock
 * can delay a reply but never hang the filesystem. Paths are resolved to inode numbers when the batch runs: a
 * path the kernel never looked up has nothing cached and is skipped.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"
#include "banned.h"

#define NOTIFY_WAIT_SECONDS 5

struct item {
	bool entry;
	char *path;
	char *name;
};

struct notify_batch {
	struct notifier *n;
	struct item *items;
	size_t count;
	bool done;
	bool abandoned;
};

struct notifier {
	struct fuse_session *se;
	struct inode_table *table;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	unsigned running; /* batches whose thread has not finished */
	pthread_cond_t idle_cond;
};

static void batch_free(struct notify_batch *b)
{
	for (size_t i = 0; i < b->count; i++) {
		free(b->items[i].path);
		free(b->items[i].name);
	}
	free(b->items);
	free(b);
}

static void run_item(struct notifier *n, const struct item *it)
{
	uint64_t ino = inode_find(n->table, it->path);

	if (!ino)
		return;
	if (it->entry)
		(void)fuse_lowlevel_notify_inval_entry(n->se, ino, it->name, strlen(it->name));
	else
		(void)fuse_lowlevel_notify_inval_inode(n->se, ino, 0, 0);
}

/*
 * One thread per batch: a batch blocked on a directory lock held by another
 * request never delays the batch that request itself is waiting for.
 */
static void *batch_main(void *arg)
{
	struct notify_batch *b = arg;
	struct notifier *n = b->n;

	for (size_t i = 0; i < b->count; i++)
		run_item(n, &b->items[i]);
	pthread_mutex_lock(&n->lock);
	if (b->abandoned) {
		batch_free(b);
	} else {
		b->done = true;
		pthread_cond_broadcast(&n->done_cond);
	}
	if (--n->running == 0)
		pthread_cond_broadcast(&n->idle_cond);
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int notify_start(struct fuse_session *se, struct inode_table *t, struct notifier **ret)
{
	struct notifier *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;

	if (!n)
		return -ENOMEM;
	n->se = se;
	n->table = t;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->done_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&n->idle_cond, NULL);
	*ret = n;
	return 0;
}

void notify_stop(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	while (n->running)
		pthread_cond_wait(&n->idle_cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->done_cond);
	pthread_cond_destroy(&n->idle_cond);
	free(n);
}

struct notify_batch *notify_batch_new(struct notifier *n)
{
	struct notify_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->n = n;
	return b;
}

static void add(struct notify_batch *b, bool entry, const char *path, const char *name)
{
	struct item *v;

	if (!b)
		return;
	v = realloc(b->items, (b->count + 1) * sizeof(*v));
	if (!v)
		return;
	b->items = v;
	v[b->count].entry = entry;
	v[b->count].path = strdup(path);
	v[b->count].name = name ? strdup(name) : NULL;
	if (v[b->count].path && (!name || v[b->count].name)) {
		b->count++;
	} else {
		free(v[b->count].path);
		free(v[b->count].name);
	}
}

void notify_entry(struct notify_batch *b, const char *parent_path, const char *name)
{
	add(b, true, parent_path, name);
}

void notify_inode(struct notify_batch *b, const char *path)
{
	add(b, false, path, NULL);
}

void notify_batch_run(struct notify_batch *b)
{
	struct notifier *n;
	struct timespec deadline;
	pthread_attr_t attr;
	pthread_t thread;

	if (!b)
		return;
	n = b->n;
	if (!b->count || !n) {
		batch_free(b);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += NOTIFY_WAIT_SECONDS;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&n->lock);
	n->running++;
	if (pthread_create(&thread, &attr, batch_main, b) != 0) {
		/* No thread to spare: tell the kernel from here, as a last resort. */
		n->running--;
		pthread_mutex_unlock(&n->lock);
		pthread_attr_destroy(&attr);
		for (size_t i = 0; i < b->count; i++)
			run_item(n, &b->items[i]);
		batch_free(b);
		return;
	}
	pthread_attr_destroy(&attr);
	while (!b->done) {
		if (pthread_cond_timedwait(&n->done_cond, &n->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (b->done)
		batch_free(b);
	else
		b->abandoned = true;
	pthread_mutex_unlock(&n->lock);
}
