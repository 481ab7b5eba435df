/*
 * Invalidation batches. Each batch runs on a thread other than the one
 * answering the request (the kernel must not be told from there); its
 * handler waits for it, with a time limit so that an unexpected kernel lock
 * can delay a reply but never hang the filesystem. Paths are resolved to
 * inode numbers when the batch runs: a path the kernel never looked up has
 * nothing cached and is skipped.
 *
 * The threads are a pool that grows on demand: a batch goes to an idle
 * thread when there is one, else to a new thread, so a batch blocked on a
 * directory lock held by another request never delays the batch that request
 * itself is waiting for. Up to IDLE_MAX threads stay for the next batches;
 * a burst of publishes costs no thread creation per publish.
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
#define IDLE_MAX 2

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
	struct notify_batch *next; /* queue */
};

struct notifier {
	struct fuse_session *se;
	struct inode_table *table;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	pthread_cond_t work_cond;
	struct notify_batch *head, *tail; /* handed to idle threads, not yet taken */
	unsigned threads;  /* threads alive */
	unsigned idle;     /* idle threads no queued batch has claimed */
	bool stop;
	pthread_cond_t idle_cond; /* threads reached 0 */
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

static void run_batch(struct notify_batch *b)
{
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
	pthread_mutex_unlock(&n->lock);
}

/* A pool thread: its first batch, then queued ones while it is wanted. */
static void *worker_main(void *arg)
{
	struct notify_batch *b = arg;
	struct notifier *n = b->n;

	for (;;) {
		run_batch(b);
		pthread_mutex_lock(&n->lock);
		if (n->stop || n->idle >= IDLE_MAX)
			break;
		n->idle++;
		while (!n->head && !n->stop)
			pthread_cond_wait(&n->work_cond, &n->lock);
		if (!n->head) {
			n->idle--;
			break;
		}
		b = n->head;
		n->head = b->next;
		if (!n->head)
			n->tail = NULL;
		pthread_mutex_unlock(&n->lock);
	}
	if (--n->threads == 0)
		pthread_cond_broadcast(&n->idle_cond);
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int notify_store(struct notifier *n, uint64_t ino, const void *data, size_t len)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);

	bv.buf[0].mem = (void *)data;
	return fuse_lowlevel_notify_store(n->se, ino, 0, &bv, 0);
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
	pthread_cond_init(&n->work_cond, NULL);
	*ret = n;
	return 0;
}

void notify_stop(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->work_cond);
	while (n->threads)
		pthread_cond_wait(&n->idle_cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->done_cond);
	pthread_cond_destroy(&n->idle_cond);
	pthread_cond_destroy(&n->work_cond);
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

/* Hands b to an idle pool thread, or to a new one. Called with n->lock held. */
static int dispatch(struct notifier *n, struct notify_batch *b)
{
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	if (n->idle > 0) {
		n->idle--;
		if (n->tail)
			n->tail->next = b;
		else
			n->head = b;
		n->tail = b;
		pthread_cond_signal(&n->work_cond);
		return 0;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&thread, &attr, worker_main, b);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return -r;
	n->threads++;
	return 0;
}

void notify_batch_run(struct notify_batch *b)
{
	struct notifier *n;
	struct timespec deadline;

	if (!b)
		return;
	n = b->n;
	if (!b->count || !n) {
		batch_free(b);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += NOTIFY_WAIT_SECONDS;
	pthread_mutex_lock(&n->lock);
	if (n->stop || dispatch(n, b) < 0) {
		/* No thread to spare: tell the kernel from here, as a last resort. */
		pthread_mutex_unlock(&n->lock);
		for (size_t i = 0; i < b->count; i++)
			run_item(n, &b->items[i]);
		batch_free(b);
		return;
	}
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
