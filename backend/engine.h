/*
 * The change and task engine (SPEC §4.8): the one road for asynchronous
 * work in charmfs, a port of snapd's overlord state engine (agents.md A).
 *
 * A change is a unit of user-visible work (a deploy, an upgrade, a
 * publish) made of tasks. Each task has a kind, whose registered handlers
 * do (and undo) it, a status, prerequisites (wait-for: tasks of the same
 * change that must be Done first), lanes, a log of its last ENGINE_LOG_MAX
 * lines, a progress and an opaque data text for its handler. A change's
 * status is derived from its tasks' (engine_status_derive()); it becomes
 * ready once, when its last unready task becomes ready, and stays ready.
 * Ids are decimal numbers, ascending, never reused (even after a prune
 * and a restart).
 *
 * Everything lives in the store's database (engine_schema) and, as a
 * cache kept coherent with it, in memory: every transition is committed
 * before any engine_ function returns it or a waiter is woken. After a
 * crash, tasks that were Doing (or Undoing) run again and Do tasks go on.
 *
 * Calling sequence:
 *   engine_open(db, &opts, &e)            loads the changes
 *   engine_add_handler(e, "kind", do, undo, ud) ...   before engine_start
 *   engine_set_recurring(e, "kind")        likewise, for recurring work
 *   engine_start(e)                        starts the worker threads
 *   engine_change_add(e, ...)              from any thread, any time
 *   engine_record_tx(db, ...) in another module's transaction, then
 *   engine_notice(e) after its commit
 *   engine_settle / engine_*_get / engine_abort / engine_prune ...
 *   engine_close(e)                        stops handlers, joins workers
 *
 * Thread-safety: after engine_start() every engine_ function may be called
 * from any thread, except from a handler where noted. One mutex guards the
 * engine; it is taken before the db layer's writer mutex, so no engine_
 * function except engine_record_tx() may be called inside a write
 * transaction (db_write_begin()): that would deadlock with a worker that
 * commits. Library code does not log; messages go to task logs.
 *
 * Handler contract (engine_handler):
 *  - Called in a worker thread, without the engine's lock, once per
 *    attempt. The work may be asynchronous inside, but the call returns
 *    when the attempt is over.
 *  - Must be idempotent: after a crash or a stop, a task that was Doing
 *    runs its do handler again from the start (Undoing: its undo handler),
 *    possibly after part of the work was done. Keep progress that must
 *    survive in engine_run_set_data().
 *  - Returns 0 when done (Doing -> Done, Undoing -> Undone); a negative
 *    errno on failure (the task goes to Error, with the message of
 *    engine_run_fail() or the errno's text in its log, and its lanes are
 *    aborted: their Done tasks are undone in reverse dependency order and
 *    their Do tasks held); or engine_run_retry(run, ms) to be called again
 *    after ms milliseconds (the status stays Doing/Undoing, as in snapd).
 *  - Must stop soon when told to (engine_run_stopping(), engine_run_wait_stop(),
 *    engine_run_stop_fd()): the change was aborted or the engine is closing.
 *    After an abort, returning 0 means "it was done" and the task is then
 *    undone; returning a retry undoes it too (or holds it without an undo
 *    handler). While the engine closes, an error counts as a retry: the
 *    task stays Doing and runs again after the restart.
 *  - May call engine_run_* on its own run and any non-waiting engine_
 *    function, but never engine_settle() or engine_wait() (they would wait
 *    for the handler itself) nor engine_close().
 */
#ifndef CHARMFS_ENGINE_H
#define CHARMFS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db; /* db.h: for backend/ only */
#include "util.h"

/* Lines a task's log keeps (older lines are dropped, A25). */
#define ENGINE_LOG_MAX 10
/* Longest log message kept (bytes, cut on a UTF-8 boundary); newlines become spaces. */
#define ENGINE_LOG_MSG_MAX 2048
/* Longest kind (bytes). */
#define ENGINE_KIND_MAX 64
/* Longest summary (bytes). */
#define ENGINE_SUMMARY_MAX 1024
/* Largest task data (bytes). */
#define ENGINE_DATA_MAX (256 * 1024)
/* Most tasks in one change. */
#define ENGINE_TASKS_MAX 1000
/* Most ready changes engine_prune() keeps (A44). */
#define ENGINE_READY_MAX 500
/* Most worker threads. */
#define ENGINE_WORKERS_MAX 64

/* Task statuses, with snapd's numbers (they are stored). 0 reads as Do (A14). */
enum engine_status {
	ENGINE_DEFAULT = 0,
	ENGINE_HOLD = 1,
	ENGINE_DO = 2,
	ENGINE_DOING = 3,
	ENGINE_DONE = 4,
	ENGINE_ABORT = 5,
	ENGINE_UNDO = 6,
	ENGINE_UNDOING = 7,
	ENGINE_UNDONE = 8,
	ENGINE_ERROR = 9,
};

/* The status name shown in status files: "Do", "Doing", ... ("Do" for 0, "?" when invalid). */
const char *engine_status_name(enum engine_status s);
/* True for Done, Undone, Hold and Error (A13). */
bool engine_status_ready(enum engine_status s);
/*
 * A change's status from its n task statuses (A15): Hold when n == 0, else
 * the first of Abort, Undoing, Undo, Doing, Do, Error, Undone, Done, Hold
 * that some task has.
 */
enum engine_status engine_status_derive(const enum engine_status *v, size_t n);

/* The create/index statements of the engine's tables; NULL-terminated, idempotent. */
extern const char *const engine_schema[];

struct engine;
struct engine_run;

/* A handler: see the handler contract above. ud is engine_add_handler()'s. */
typedef int (*engine_handler)(struct engine_run *run, void *ud);

/* engine_handler's "call me again later" value; use engine_run_retry(). */
#define ENGINE_RETRY 1

struct engine_opts {
	unsigned workers; /* handlers running at once, 1..ENGINE_WORKERS_MAX (default 4) */
	/* Unix time in milliseconds for stamps, logs and retries; NULL: the real clock. */
	int64_t (*clock)(void *ud);
	void *clock_ud;
	/*
	 * The runner prunes as engine_prune(e, now, prune_age_ms) does, by
	 * itself: when a change becomes ready or is noticed (engine_notice())
	 * and when the oldest ready change comes of age, each time after an
	 * in-memory check that something is due. < 0: never (the default;
	 * engine_prune() is then the only prune).
	 */
	int64_t prune_age_ms;
};

void engine_opts_default(struct engine_opts *o);
/* The real clock: unix milliseconds (CLOCK_REALTIME). */
int64_t engine_now_ms(void);

/*
 * Loads the engine's changes from db (whose schema includes engine_schema)
 * and returns a stopped engine in ret: readable, writable, but running no
 * handler until engine_start(). db must outlive the engine. -EINVAL for
 * bad options, -ENOMEM, -EIO.
 */
int engine_open(struct db *db, const struct engine_opts *o, struct engine **ret) WUR;
/*
 * Registers the handlers of kind (undo may be NULL: such a task is not
 * undone; an aborted running one is held, A29). Only before engine_start().
 * Tasks of a kind without handlers are left alone (snapd: "handled by a
 * different runner"). -EEXIST for a kind registered twice, -EBUSY after
 * engine_start(), -EINVAL, -ENOMEM.
 */
int engine_add_handler(struct engine *e, const char *kind, engine_handler do_fn,
		       engine_handler undo_fn, void *ud) WUR;
/*
 * Marks kind (registered) as recurring work, such as the upgrade watcher:
 * a task that runs, asks to be called again later (engine_run_retry()) and
 * never ends while the daemon wants it. engine_settle() does not wait for
 * a change whose unready tasks are all of recurring kinds (SPEC §4.8);
 * engine_settle_kind() of that kind does. Only before engine_start().
 * -ENOENT when kind has no handler, -EBUSY after engine_start().
 */
int engine_set_recurring(struct engine *e, const char *kind) WUR;
/* Starts the worker threads, which resume the loaded work. -EBUSY when started; -errno. */
int engine_start(struct engine *e) WUR;
/*
 * Tells every running handler to stop, waits for the workers, and frees the
 * engine (not db). Queued and interrupted tasks stay Doing in the database
 * and run again at the next start. NULL is fine. Never from a handler, and
 * no other thread may be in (or enter) an engine_ function meanwhile.
 */
void engine_close(struct engine *e);

/* One task of engine_change_add() or engine_record_tx(). */
struct engine_task_spec {
	const char *kind;	  /* 1..ENGINE_KIND_MAX bytes */
	const char *summary;	  /* at most ENGINE_SUMMARY_MAX bytes */
	const char *data;	  /* NULL: none; at most ENGINE_DATA_MAX bytes */
	const size_t *wait_for;	  /* indexes of other tasks of the same call; duplicates merged */
	size_t n_wait;
	const int *lanes;	  /* lane numbers >= 0; none means lane 0 (A24) */
	size_t n_lanes;
	enum engine_status status; /* initial status; 0 = Do (imports, tests) */
	const char *const *log;	   /* NULL or NULL-terminated messages, logged INFO */
	const char *const *errors; /* NULL or NULL-terminated messages, logged ERROR (after log) */
};

/*
 * Adds a change of n tasks in one transaction, and wakes the runner.
 * Returns its id in ret_id (may be NULL). A change whose tasks are all
 * ready is ready at once. -EINVAL for n == 0 or over ENGINE_TASKS_MAX, a
 * bad spec, a wait-for index out of range or a dependency cycle; -EFBIG
 * for data over ENGINE_DATA_MAX; -ENOMEM, -EIO, -ENOSPC.
 */
int engine_change_add(struct engine *e, const char *kind, const char *summary,
		      const struct engine_task_spec *tasks, size_t n, int64_t *ret_id) WUR;

/*
 * Records a change inside the caller's own write transaction (between
 * db_write_begin() and db_write_end()), so that it commits or rolls back
 * with the caller's work: already-finished work (tasks Done, Undone, Hold
 * or Error) and work still to do (tasks Do: 0 or ENGINE_DO; no other
 * unready status). now_ms stamps spawn time, the ready time of ready
 * tasks and the log lines. Readers and the runner see the change once
 * engine_notice() is called after the commit (until then reads are
 * answered from the engine's cache without a query) (engine_start(), engine_settle() and engine_change_add() also
 * notice it). Returns the change id in ret_id (may be NULL). -EINVAL (as
 * engine_change_add(), or another unready status), -EFBIG, -ENOMEM, -EIO.
 */
int engine_record_tx(struct db *db, const char *kind, const char *summary, int64_t now_ms,
		     const struct engine_task_spec *tasks, size_t n, int64_t *ret_id) WUR;
/*
 * Tells the runner that changes were recorded (engine_record_tx()): a
 * worker reads them, starts their Do tasks and prunes if due, in its own
 * thread; the caller only takes the engine's lock to set a flag. Any
 * thread, outside any write transaction, any time before engine_close()
 * (before engine_start() the start does it).
 */
void engine_notice(struct engine *e);

/* A new lane number (1, 2, ...; persistent, A9). -EIO, -ENOSPC. */
int engine_new_lane(struct engine *e, int *ret) WUR;

/*
 * Aborts change id (changes/ID/ctl "abort", A33): Do tasks go to Hold,
 * Doing ones to Abort (their handlers are told to stop, then they are
 * undone), Done ones to Undo. -ENOENT when there is no such change;
 * -EALREADY when it is ready (nothing pending); -EIO.
 */
int engine_abort(struct engine *e, int64_t id) WUR;
/*
 * Aborts the tasks of the n lanes of change id, their dependents, and
 * what shares their lanes, sparing tasks also in a lane that is entirely
 * live (snapd's AbortLanes, A33). -ENOENT, -EALREADY, -EIO.
 */
int engine_abort_lanes(struct engine *e, int64_t id, const int *lanes, size_t n) WUR;

/*
 * Sets a task's status by hand (tests, repair tools): ready-time is
 * stamped on each move from an unready to a ready status (A18); Done is ignored while
 * the task is in Abort. -ENOENT; -EBUSY while its handler runs; -EINVAL for
 * an invalid status or when the change is ready and would become unready
 * (A17: that would be a bug; nothing changes).
 */
int engine_task_set_status(struct engine *e, int64_t task_id, enum engine_status s) WUR;
/* Appends "TIME INFO msg" (error: "TIME ERROR msg") to a task's log (A25). -ENOENT, -EIO. */
int engine_task_logf(struct engine *e, int64_t task_id, bool error, const char *fmt, ...)
	PRINTF(4, 5);

/*
 * Removes ready changes (with their tasks) that became ready before
 * now_ms - age_ms, then the oldest ready ones beyond ENGINE_READY_MAX;
 * unready changes are never removed. The number removed goes to ret_n
 * (may be NULL). -EIO, -ENOMEM.
 */
int engine_prune(struct engine *e, int64_t now_ms, int64_t age_ms, size_t *ret_n) WUR;

/*
 * The interrupt check of a waiting call: true when the caller gave up
 * (FUSE: fuse_req_interrupted()). Called with the engine's lock held: it
 * must not call engine_ functions.
 */
typedef bool (*engine_interrupted)(void *ud);

/*
 * Waits until every change is ready (changes/ctl "settle"), noticing
 * recorded changes first (engine_notice()): every task that this engine
 * runs, that is of a kind with a handler and not recurring
 * (engine_set_recurring()); tasks of other kinds are never run here and
 * are not waited for. timeout_ms < 0:
 * no limit. 0; -ETIMEDOUT; -EINTR as soon as interrupted(ud) says so (it
 * is checked at the start, at every engine event, at engine_wake() and at
 * least every ENGINE_POLL_MS). Never from a handler.
 */
int engine_settle(struct engine *e, int64_t timeout_ms, engine_interrupted interrupted, void *ud) WUR;
/*
 * Waits until no task of kind is unready (Do, Doing, Abort, Undo,
 * Undoing), whatever other changes do; otherwise as engine_settle(). Never
 * from a handler; returns only once the runner ran them (after
 * engine_start()).
 */
int engine_settle_kind(struct engine *e, const char *kind, int64_t timeout_ms,
		       engine_interrupted interrupted, void *ud) WUR;
/* How often waits poll their interrupt check when nothing wakes them (ms). */
#define ENGINE_POLL_MS 100

/*
 * Wakes every engine_settle()/engine_wait() so that it checks its interrupt
 * at once (for a FUSE INTERRUPT callback: set the flag, then call this).
 * Any thread, any time before engine_close().
 */
void engine_wake(struct engine *e);

/*
 * The generation: a number that grows whenever anything readable changes
 * (status, log, progress, a new or pruned change). Also notices changes
 * recorded with engine_record_tx().
 */
uint64_t engine_generation(struct engine *e);
/*
 * Waits until the generation differs from gen (for tail -f of a log), then
 * returns the new one in ret_gen. 0, -ETIMEDOUT, -EINTR as engine_settle().
 */
int engine_wait(struct engine *e, uint64_t gen, int64_t timeout_ms, engine_interrupted interrupted,
		void *ud, uint64_t *ret_gen) WUR;

/* ---- reading ----------------------------------------------------------------- */

/* One change, as engine_change_get() reads it; engine_change_info_free() frees it. */
struct engine_change_info {
	int64_t id;
	char *kind;
	char *summary;
	enum engine_status status; /* derived (A15) */
	bool ready;
	int64_t spawn_ms;
	int64_t ready_ms;  /* 0 while not ready */
	char *err;	   /* NULL unless status is Error (A19) */
	size_t n_tasks;
};

struct engine_task_info {
	int64_t id;
	int64_t change_id;
	char *kind;
	char *summary;
	enum engine_status status;
	int64_t *wait_for; /* task ids */
	size_t n_wait;
	int *lanes; /* {0} when the task joined none (A24) */
	size_t n_lanes;
	char **log; /* "TIME LEVEL message", oldest first */
	size_t n_log;
	char *progress_label; /* defaults per A26 */
	int64_t progress_done;
	int64_t progress_total;
	int64_t at_ms; /* 0: none; else when a retry is due */
	int64_t spawn_ms;
	int64_t ready_ms;
	char *data; /* NULL: none */
};

/* The ids of all changes, ascending, in a new array (caller frees; NULL when none). */
int engine_change_ids(struct engine *e, int64_t **ret, size_t *ret_n) WUR;
/* The ids of change id's tasks, in the order they were added. -ENOENT. */
int engine_task_ids(struct engine *e, int64_t id, int64_t **ret, size_t *ret_n) WUR;
/* A copy of change id. -ENOENT, -ENOMEM. */
int engine_change_get(struct engine *e, int64_t id, struct engine_change_info **ret) WUR;
void engine_change_info_free(struct engine_change_info *ci);
/* A copy of task id. -ENOENT, -ENOMEM. */
int engine_task_get(struct engine *e, int64_t id, struct engine_task_info **ret) WUR;
void engine_task_info_free(struct engine_task_info *ti);

/*
 * ---- for handlers: their own run -------------------------------------------
 * Only from the handler's own call, in its thread (the run is freed when it
 * returns). engine_run_stopping() and engine_run_stop_fd()'s descriptor may
 * also be used by helper threads the handler joins before returning.
 */

int64_t engine_run_task_id(const struct engine_run *run);
int64_t engine_run_change_id(const struct engine_run *run);
const char *engine_run_kind(const struct engine_run *run);
const char *engine_run_summary(const struct engine_run *run);
/* True for an undo attempt. */
bool engine_run_undoing(const struct engine_run *run);
/* The task's data (NULL: none), valid until the handler returns or sets new data. */
const char *engine_run_data(const struct engine_run *run);
/* Replaces the task's data, committed before it returns. -EFBIG, -ENOMEM, -EIO. */
int engine_run_set_data(struct engine_run *run, const char *data) WUR;
/* Appends an INFO (error: ERROR) line to the task's log, committed. 0 or -errno. */
int engine_run_logf(struct engine_run *run, bool error, const char *fmt, ...) PRINTF(3, 4);
/*
 * Sets the progress (A26): total <= 0 or done outside 0..total clears it.
 * A final progress (done == total) is committed; others are only shown.
 */
void engine_run_set_progress(struct engine_run *run, const char *label, int64_t done,
			     int64_t total);
/* True once the handler has been told to stop. */
bool engine_run_stopping(struct engine_run *run);
/* Waits up to timeout_ms (< 0: no limit) for the stop; true when told to stop. */
bool engine_run_wait_stop(struct engine_run *run, int64_t timeout_ms);
/*
 * A file descriptor that becomes readable when the handler is told to
 * stop (for poll() beside a child's pipes); owned by the run. -errno.
 */
int engine_run_stop_fd(struct engine_run *run);
/* Returns ENGINE_RETRY, asking to be called again after after_ms (>= 0) ms. */
int engine_run_retry(struct engine_run *run, int64_t after_ms);
/* Returns r (negative), with the message logged as the task's ERROR line. */
int engine_run_fail(struct engine_run *run, int r, const char *fmt, ...) PRINTF(3, 4);

#endif
