/*
 * Internals shared by the engine's files. Not for use outside them.
 *
 *   enginemodel.c  the in-memory model and its rules: finding, statuses,
 *                  marks, logs, aborts, linking, inserting and freeing
 *                  changes, spec checks, handler lookup; also engine.h's
 *                  pure helpers (engine_status_*(), engine_now_ms());
 *   enginedb.c     its persistence: tables, load, refresh, flush, inserts
 *                  (engine_record_tx()), lanes and pruning;
 *   enginerun.c    the task runner: the scheduling pass (eng_ensure()),
 *                  workers, stop requests, life cycle, waiting, the run API;
 *   engine.c       the public mutators and readers of engine.h.
 *
 * Calls go one way, from a file only to those above it in this list:
 * engine.c calls the runner, the persistence and the model; enginerun.c
 * the persistence and the model; enginedb.c the model only; enginemodel.c
 * no other engine file, and no engine file calls engine.c. A call the
 * other way is a cycle between objects, which tests/layers.sh refuses.
 */
#ifndef CHARMFS_ENGINE_INT_H
#define CHARMFS_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "engine.h"

/*
 * How long after the first engine_notice() a worker reads what was
 * recorded: the changes recorded meanwhile (a stream of publishes) are
 * read at once and their first transitions share a transaction, instead
 * of each costing its own commits between the recorders' commits.
 */
#define ENGINE_NOTICE_MS 20

/* What of a task must be written at the next flush. */
enum {
	DIRTY_STATUS = 1 << 0, /* status, ready_ms, at_ms */
	DIRTY_LOG = 1 << 1,
	DIRTY_PROGRESS = 1 << 2,
	DIRTY_DATA = 1 << 3,
};

struct eng_change;

struct eng_task {
	int64_t id;
	struct eng_change *chg;
	char *kind;
	char *summary;
	char *data;
	enum engine_status status; /* never ENGINE_DEFAULT */
	int64_t *wait;		   /* ids, as stored */
	size_t n_wait;
	struct eng_task **waitp; /* the wait tasks found in the change */
	size_t n_waitp;
	struct eng_task **halt; /* tasks waiting for this one */
	size_t n_halt;
	int *lanes;
	size_t n_lanes;
	char *log[ENGINE_LOG_MAX];
	size_t n_log;
	char *plabel;
	int64_t pdone, ptotal; /* ptotal 0: none */
	int64_t at_ms, spawn_ms, ready_ms;
	unsigned dirty;
	bool in_dirty;		 /* listed in engine.dirty */
	struct engine_run *run;	 /* set while queued or running */
	const struct eng_handler *h; /* NULL: no handler for the kind */
};

struct eng_change {
	int64_t id;
	char *kind;
	char *summary;
	int64_t spawn_ms, ready_ms;
	bool ready;
	bool dirty; /* ready_ms to write */
	struct eng_task **tasks;
	size_t n_tasks;
};

struct eng_handler {
	char *kind;
	engine_handler do_fn, undo_fn;
	void *ud;
	bool recurring; /* engine_set_recurring(): settle does not wait for it */
};

struct engine_run {
	struct engine *e;
	int64_t task_id, change_id;
	char *kind, *summary, *data;
	bool undo;
	atomic_bool stop;
	pthread_cond_t stopped; /* with engine.lock */
	int stop_fd;		/* -1 until asked for */
	int64_t retry_ms;	/* engine_run_retry()'s */
	char *fail_msg;		/* engine_run_fail()'s */
	struct engine_run *next; /* queue, then the active list */
	struct engine_run *anext, *aprev;
};

struct engine {
	struct db *db;
	struct engine_opts o;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* generation moved, or engine_wake() */
	pthread_cond_t work;	/* a queued run, a due retry, or stop */
	uint64_t gen;
	uint64_t wakes;

	struct eng_change **chg; /* ascending id */
	size_t n_chg, cap_chg;
	struct eng_task **tasks; /* ascending id */
	size_t n_tasks, cap_tasks;
	size_t n_unready;
	int64_t max_change_id; /* every change up to this one is loaded (or pruned) */

	struct eng_task **dirty;
	size_t n_dirty, cap_dirty;
	struct eng_change **dirty_chg;
	size_t n_dirty_chg, cap_dirty_chg;

	struct eng_handler *handlers;
	size_t n_handlers;

	pthread_t *threads;
	size_t n_threads;
	bool started, stopping;
	bool broken; /* the cache could not be rebuilt after a failed commit */
	struct engine_run *q_head, *q_tail; /* runs waiting for a worker */
	struct engine_run *active;	   /* every run, queued or running */
	unsigned busy;			   /* queued + running runs */
	int64_t next_at;		   /* earliest due retry, 0: none */
	bool noticed;			   /* engine_notice(): a worker refreshes */
	/*
	 * Rows may exist that the cache has not read (engine_notice(), a
	 * failed refresh): readers refresh first only then (eng_catch_up()).
	 */
	bool unread;
	int64_t notice_at;		   /* at this monotonic ms (ENGINE_NOTICE_MS) */
	int64_t prune_at;		   /* when the next prune is due, 0: none */
};

/* enginemodel.c: the model */
int64_t eng_now(struct engine *e);
void eng_changed(struct engine *e);
struct eng_change *eng_change_find(struct engine *e, int64_t id);
struct eng_task *eng_task_find(struct engine *e, int64_t id);
void eng_mark(struct engine *e, struct eng_task *t, unsigned what);
int eng_set_status(struct engine *e, struct eng_task *t, enum engine_status s);
int eng_log(struct engine *e, struct eng_task *t, bool error, const char *msg);
void eng_log_push(struct eng_task *t, char *line);
const int *eng_lanes_of(const struct eng_task *t, size_t *ret_n);
void eng_abort_change(struct engine *e, struct eng_change *c);
void eng_abort_lanes(struct engine *e, struct eng_change *c, const int *lanes, size_t n);
enum engine_status eng_change_status(const struct eng_change *c);
bool eng_change_all_ready(const struct eng_change *c);
void eng_task_free(struct eng_task *t);
void eng_change_free(struct eng_change *c);
int eng_change_insert(struct engine *e, struct eng_change *c);
int eng_link(struct eng_change *c);
void eng_forget(struct engine *e);
int eng_format_line(int64_t now_ms, bool error, const char *msg, char **ret);
int eng_spec_check(const struct engine_task_spec *v, size_t n, bool record);
const struct eng_handler *eng_handler_find(const struct engine *e, const char *kind);

/* enginedb.c: persistence */
int eng_load(struct engine *e);
int eng_refresh(struct engine *e);
/* eng_refresh() when something may be unread, else 0: what readers call. */
int eng_catch_up(struct engine *e);
int eng_flush(struct engine *e);
int eng_flush_prune(struct engine *e);
int eng_prune(struct engine *e, int64_t now_ms, int64_t age_ms, size_t *ret_n);
bool eng_prune_due(const struct engine *e, int64_t now_ms, int64_t age_ms, int64_t *ret_at);
int eng_db_insert(struct db *db, const char *kind, const char *summary, int64_t now_ms,
		  const struct engine_task_spec *v, size_t n, bool record, int64_t *ret_id);

/* enginerun.c: the runner */
void eng_ensure(struct engine *e);
void eng_request_stop(struct engine *e, struct engine_run *run);

/* The monotonic clock in ms, and a deadline ms from now (for timed waits). */
static inline void mono_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static inline int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
