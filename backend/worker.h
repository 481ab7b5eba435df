/*
 * The store's background work, with one start, one quiesce and one stop
 * for all of it: jobs queued to one thread in the SCHED_IDLE class (tree
 * extraction after a publish), and work a caller's thread does on the
 * store's behalf between worker_enter() and worker_leave() (a backup
 * snapshot). Knows nothing of the store: a job is a function and a key.
 *
 * Calling sequence (the owner, the store core):
 *   worker_new(&w)
 *   worker_submit(w, fn, ud, key) ...   any thread; the first one starts the thread
 *   worker_enter(w) ... worker_leave(w) any thread, around inline background work
 *   worker_quiesce(w)                   any thread: waits until none runs
 *   worker_stop(w)                      once, from the owner: joins everything
 *   worker_free(w)
 * The thread is started by the first job, not by worker_new(): the daemon
 * forks after opening the store, and a thread does not survive a fork.
 */
#ifndef CHARMFS_WORKER_H
#define CHARMFS_WORKER_H

#include "util.h"

struct worker;

/* A job: runs on the worker's thread with the ud and key it was submitted with. */
typedef void (*worker_fn)(void *ud, const char *key);

/* Longest key of a job, without its NUL. */
#define WORKER_KEY_MAX 64

/* A new worker, no thread yet. 0 or -ENOMEM. */
int worker_new(struct worker **ret) WUR;

/*
 * Queues fn(ud, key) (key is copied) to run after the jobs queued before
 * it, starting the thread if it is not running. 0; -ESHUTDOWN after
 * worker_stop(); -ENAMETOOLONG for a key over WORKER_KEY_MAX; -ENOMEM, or
 * -EAGAIN when the thread cannot be started (nothing is queued then).
 * Any thread, including a job's. Not marked WUR: a caller with a fallback
 * (work done on first need instead) may ignore the result with (void).
 */
int worker_submit(struct worker *w, worker_fn fn, void *ud, const char *key);

/*
 * Counts work the calling thread is about to do in the background's name,
 * so that worker_quiesce() and worker_stop() wait for it; end it with
 * worker_leave(). 0, or -ESHUTDOWN after worker_stop() (then do not do
 * the work, and do not call worker_leave()). Any thread but a job's.
 */
int worker_enter(struct worker *w) WUR;
void worker_leave(struct worker *w);

/*
 * Returns once no job is queued or running and no entered work is under
 * way. Work submitted or entered after it returns is not waited for. Any
 * thread but a job's, and not between worker_enter() and worker_leave().
 */
void worker_quiesce(struct worker *w);

/*
 * Refuses new work, lets the thread run the jobs already queued, joins it,
 * and waits for entered work to leave: nothing runs once it returns.
 * Idempotent. Not from a job or between worker_enter() and worker_leave().
 */
void worker_stop(struct worker *w);

/* Stops w (worker_stop()) and frees it. NULL is fine. */
void worker_free(struct worker *w);

#endif
