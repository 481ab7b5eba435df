/*
 * Background work (worker.h): a FIFO of jobs run by one thread in the
 * SCHED_IDLE class (it uses CPU time nothing else wants, so a burst of
 * publishes is not slowed by the trees of the ones before), and a count of
 * work entered by other threads. One mutex guards the queue and the
 * counts; one condition variable wakes the thread for a job or a stop and
 * the waiters of worker_quiesce() and worker_stop() when the work is done.
 *
 * Invariant: `busy` is the number of queued jobs, plus the running one,
 * plus the entered works; quiesce waits for it to reach 0.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "banned.h"

struct job {
	worker_fn fn;
	void *ud;
	char key[WORKER_KEY_MAX + 1];
	struct job *next;
};

struct worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;  /* the thread was started (and not joined) */
	bool stopping; /* worker_stop(): no new work */
	size_t busy;   /* see the invariant above */
	struct job *head, *tail;
};

int worker_new(struct worker **ret)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	*ret = w;
	return 0;
}

/* Under w->lock: one unit of work is done; wakes the waiters when none is left. */
static void done_locked(struct worker *w)
{
	if (--w->busy == 0)
		pthread_cond_broadcast(&w->cond);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sched_param sp = { 0 };

	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break;
		struct job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		j->fn(j->ud, j->key);
		free(j);
		pthread_mutex_lock(&w->lock);
		done_locked(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int worker_submit(struct worker *w, worker_fn fn, void *ud, const char *key)
{
	struct job *j;
	int r = 0;

	if (strlen(key) > WORKER_KEY_MAX)
		return -ENAMETOOLONG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->ud = ud;
	snprintf(j->key, sizeof(j->key), "%s", key);
	pthread_mutex_lock(&w->lock);
	if (w->stopping)
		r = -ESHUTDOWN;
	else if (!w->running && pthread_create(&w->thread, NULL, worker_main, w) != 0)
		r = -EAGAIN;
	if (r < 0) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		return r;
	}
	w->running = true;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->busy++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int worker_enter(struct worker *w)
{
	int r = 0;

	pthread_mutex_lock(&w->lock);
	if (w->stopping)
		r = -ESHUTDOWN;
	else
		w->busy++;
	pthread_mutex_unlock(&w->lock);
	return r;
}

void worker_leave(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	done_locked(w);
	pthread_mutex_unlock(&w->lock);
}

void worker_quiesce(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->busy > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
	bool join;

	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	join = w->running;
	w->running = false;
	pthread_mutex_unlock(&w->lock);
	/* The thread runs what is queued, then sees stopping and ends. */
	if (join)
		pthread_join(w->thread, NULL);
	pthread_mutex_lock(&w->lock);
	while (w->busy > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	worker_stop(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
