/*
 * The store's background work that is not a task of the change engine: a
 * backup snapshot, which runs in the thread of the caller that asked for
 * it (the FUSE thread answering a read of backup/) but on the store's
 * behalf, so that the store's one quiesce and one stop wait for it.
 * Asynchronous work itself goes through the engine (engine.h); this only
 * counts work done inline. Knows nothing of the store.
 *
 * Calling sequence (the owner, the store core):
 *   worker_new(&w)
 *   worker_enter(w) ... worker_leave(w) any thread, around inline background work
 *   worker_quiesce(w)                   any thread: waits until none runs
 *   worker_stop(w)                      once, from the owner: refuses more, waits
 *   worker_free(w)
 */
#ifndef CHARMFS_WORKER_H
#define CHARMFS_WORKER_H

#include "util.h"

struct worker;

/* A new worker count. 0 or -ENOMEM. */
int worker_new(struct worker **ret) WUR;

/*
 * Counts work the calling thread is about to do in the background's name,
 * so that worker_quiesce() and worker_stop() wait for it; end it with
 * worker_leave(). 0, or -ESHUTDOWN after worker_stop() (then do not do
 * the work, and do not call worker_leave()). Any thread.
 */
int worker_enter(struct worker *w) WUR;
void worker_leave(struct worker *w);

/*
 * Returns once no entered work is under way. Work entered after it
 * returns is not waited for. Any thread, but not between worker_enter()
 * and worker_leave().
 */
void worker_quiesce(struct worker *w);

/*
 * Refuses new work and waits for entered work to leave: nothing runs once
 * it returns. Idempotent. Not between worker_enter() and worker_leave().
 */
void worker_stop(struct worker *w);

/* Stops w (worker_stop()) and frees it. NULL is fine. */
void worker_free(struct worker *w);

#endif
