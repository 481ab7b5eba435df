/*
 * Background work outside the change engine (worker.h): a count of work
 * entered by callers' threads (backup snapshots). One mutex guards the
 * count; one condition variable wakes the waiters of worker_quiesce() and
 * worker_stop() when it reaches 0. Tree extraction, which had a SCHED_IDLE
 * thread here, is a task of the engine now (storetree.c); no thread is
 * left in this file.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "worker.h"
#include "banned.h"

struct worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping; /* worker_stop(): no new work */
	size_t busy;   /* entered works not yet left */
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
	if (--w->busy == 0)
		pthread_cond_broadcast(&w->cond);
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
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
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
