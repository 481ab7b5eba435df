/*
 * The task runner (snapd's TaskRunner, agents.md A.5) and the engine's
 * life cycle: opening, handlers, worker threads, settling and waiting
 * (enginerunapi.c has what a handler calls on its own run).
 *
 * Threads: a fixed pool of opts.workers threads. The scheduling pass,
 * eng_ensure(), runs under engine.lock in whatever thread moved something
 * (a new change, an abort, a finished handler, a retry coming due): it
 * applies the transitions that need no handler (Abort -> Undo/Hold, Undo
 * without undo handler -> Done), then starts every runnable task while
 * fewer than opts.workers runs exist, moving it to Doing/Undoing and
 * committing that before the run is queued. An idle worker takes the
 * next queued run, calls the handler without the lock, then takes the
 * lock again, applies and commits the outcome, and runs eng_ensure().
 * Idle workers sleep on engine.work, with a timeout when a retry or a
 * prune is due. engine_notice() wakes one, which reads the changes other
 * modules recorded (engine_record_tx()) ENGINE_NOTICE_MS later, all
 * recorded by then at once, and runs eng_ensure() for them. An outcome
 * is committed together with the starts of the pass that follows it, and
 * the automatic prune's deletes go into the commit that makes changes
 * ready when it can (eng_flush_prune()).
 *
 * The automatic prune (opts.prune_age_ms) runs in the runner only: after
 * each outcome, each notice and when the oldest ready change comes of
 * age, an in-memory scan (eng_prune_due()) decides whether the database
 * is touched at all.
 *
 * Because a pass starts everything that is runnable at once (as snapd's
 * Ensure does), sibling tasks start together and an error in one of them
 * aborts the others while they run, deterministically.
 *
 * Lock order: engine.lock, then the db layer's writer mutex (taken by
 * each commit). Handlers never hold engine.lock; run functions take it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "engine_int.h"
#include "banned.h"

static int cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	r = -pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return r;
}

/* ---- runs -------------------------------------------------------------------- */

static void run_free(struct engine_run *run)
{
	if (!run)
		return;
	free(run->kind);
	free(run->summary);
	free(run->data);
	free(run->fail_msg);
	if (run->stop_fd >= 0)
		close(run->stop_fd);
	pthread_cond_destroy(&run->stopped);
	free(run);
}

static void active_unlink(struct engine *e, struct engine_run *run)
{
	if (run->aprev)
		run->aprev->anext = run->anext;
	else
		e->active = run->anext;
	if (run->anext)
		run->anext->aprev = run->aprev;
	run->anext = run->aprev = NULL;
}

/* A run for t, which moves to Doing/Undoing (not yet committed). NULL on ENOMEM. */
static struct engine_run *run_new(struct engine *e, struct eng_task *t)
{
	struct engine_run *run = calloc(1, sizeof(*run));
	bool undo = t->status == ENGINE_UNDO || t->status == ENGINE_UNDOING;

	if (!run)
		return NULL;
	run->e = e;
	run->stop_fd = -1;
	run->task_id = t->id;
	run->change_id = t->chg->id;
	run->undo = undo;
	run->kind = strdup(t->kind);
	run->summary = strdup(t->summary);
	run->data = t->data ? strdup(t->data) : NULL;
	atomic_init(&run->stop, false);
	if (!run->kind || !run->summary || (t->data && !run->data) || cond_init(&run->stopped) < 0) {
		free(run->kind);
		free(run->summary);
		free(run->data);
		free(run);
		return NULL;
	}
	(void)eng_set_status(e, t, undo ? ENGINE_UNDOING : ENGINE_DOING);
	t->at_ms = 0;
	eng_mark(e, t, DIRTY_STATUS);
	t->run = run;
	run->anext = e->active;
	if (e->active)
		e->active->aprev = run;
	e->active = run;
	e->busy++;
	return run;
}

/* Forgets a run that never reached a worker (its start was not committed). */
static void run_cancel(struct engine *e, struct engine_run *run)
{
	struct eng_task *t = eng_task_find(e, run->task_id);

	if (t && t->run == run)
		t->run = NULL;
	active_unlink(e, run);
	e->busy--;
	run_free(run);
}

void eng_request_stop(struct engine *e, struct engine_run *run)
{
	uint64_t one = 1;

	if (atomic_load(&run->stop))
		return;
	atomic_store(&run->stop, true);
	pthread_cond_broadcast(&run->stopped);
	if (run->stop_fd >= 0 && write(run->stop_fd, &one, sizeof(one)) < 0) {
		/* An eventfd at its maximum is readable already. */
	}
	(void)e;
}

/* ---- the scheduling pass (A29) -------------------------------------------------- */

/* A29f: a Do task waits for all its wait-tasks to be Done, an Undo task for its halt-tasks to be ready. */
static bool must_wait(const struct eng_task *t)
{
	if (t->status == ENGINE_DO) {
		for (size_t i = 0; i < t->n_waitp; i++)
			if (t->waitp[i]->status != ENGINE_DONE)
				return true;
	} else if (t->status == ENGINE_UNDO) {
		for (size_t i = 0; i < t->n_halt; i++)
			if (!engine_status_ready(t->halt[i]->status))
				return true;
	}
	return false;
}

/* A29a: an aborted task that is not running is undone, or held without an undo handler. */
static void try_undo(struct engine *e, struct eng_task *t)
{
	(void)eng_set_status(e, t, t->h && t->h->undo_fn ? ENGINE_UNDO : ENGINE_HOLD);
}

/* One pass over the tasks; true when it moved something. Started runs are appended at *q. */
static bool ensure_pass(struct engine *e, struct engine_run ***q, int64_t *next)
{
	int64_t now = eng_now(e);
	bool moved = false;

	for (size_t i = 0; i < e->n_chg; i++) {
		struct eng_change *c = e->chg[i];
		for (size_t k = 0; !c->ready && k < c->n_tasks; k++) {
			struct eng_task *t = c->tasks[k];
			struct engine_run *run;

			if (!t->h)
				continue;
			if (t->status == ENGINE_ABORT) {
				if (t->run)
					eng_request_stop(e, t->run);
				else
					try_undo(e, t), moved = true;
				continue;
			}
			if (t->run || engine_status_ready(t->status) || must_wait(t))
				continue;
			if (t->status == ENGINE_UNDO && !t->h->undo_fn) {
				(void)eng_set_status(e, t, ENGINE_DONE);
				moved = true;
				continue;
			}
			if (t->at_ms > now) {
				if (*next == 0 || t->at_ms < *next)
					*next = t->at_ms;
				continue;
			}
			if (e->busy >= e->o.workers)
				continue;
			run = run_new(e, t);
			if (!run)
				continue;
			**q = run; /* in scan order: older changes, earlier tasks first */
			*q = &run->next;
			moved = true;
		}
	}
	return moved;
}

void eng_ensure(struct engine *e)
{
	for (int pass = 0; pass < 64; pass++) {
		struct engine_run *q = NULL, **qt = &q, *run;
		int64_t next = 0;
		bool moved;

		if (!e->started || e->stopping || e->broken)
			return;
		moved = ensure_pass(e, &qt, &next);
		e->next_at = next;
		if (eng_flush_prune(e) < 0) {
			while ((run = q)) {
				q = run->next;
				run_cancel(e, run);
			}
			/* Try again in a second: a worker wakes for next_at. */
			e->next_at = eng_now(e) + 1000;
			pthread_cond_broadcast(&e->work);
			return;
		}
		while ((run = q)) {
			q = run->next;
			run->next = NULL;
			if (e->q_tail)
				e->q_tail->next = run;
			else
				e->q_head = run;
			e->q_tail = run;
		}
		if (e->q_head || next)
			pthread_cond_broadcast(&e->work);
		if (!moved)
			return;
	}
}

/* ---- the automatic prune ---------------------------------------------------------- */

/*
 * Prunes when eng_prune_due() says so (opts.prune_age_ms >= 0), and sets
 * prune_at, when the idle workers look again. Only between commits (no
 * dirty task or change); a failed prune is tried again in a second.
 */
static void autoprune(struct engine *e)
{
	int64_t age = e->o.prune_age_ms, now, at;

	if (age < 0 || e->broken || e->n_dirty || e->n_dirty_chg)
		return;
	now = eng_now(e);
	if (eng_prune_due(e, now, age, &at) && eng_prune(e, now, age, NULL) < 0) {
		e->prune_at = now + 1000;
		return;
	}
	(void)eng_prune_due(e, now, age, &e->prune_at);
}

/* Reads the changes recorded since the last read (engine_notice()), starts what they hold, prunes. */
static void notice(struct engine *e)
{
	e->noticed = false;
	(void)eng_refresh(e);
	eng_ensure(e);
	autoprune(e);
}

/* ---- outcomes (A30) -------------------------------------------------------------- */

static void fail_task(struct engine *e, struct eng_task *t, struct engine_run *run, int r)
{
	static const int lane0 = 0;
	char buf[256];
	const char *msg = run->fail_msg;

	eng_abort_lanes(e, t->chg, t->n_lanes ? t->lanes : &lane0, t->n_lanes ? t->n_lanes : 1);
	(void)eng_set_status(e, t, ENGINE_ERROR);
	if (!msg && r > 0) {
		snprintf(buf, sizeof(buf), "handler returned %d", r);
		msg = buf;
	} else if (!msg) {
		msg = strerror_r(-r, buf, sizeof(buf));
	}
	(void)eng_log(e, t, true, msg);
}

static void complete(struct engine *e, struct engine_run *run, int r)
{
	struct eng_task *t = eng_task_find(e, run->task_id);

	active_unlink(e, run);
	e->busy--;
	if (t && t->run == run) {
		t->run = NULL;
		if (r == ENGINE_RETRY || (r < 0 && e->stopping)) {
			if (t->status == ENGINE_ABORT) {
				try_undo(e, t);
			} else if (r == ENGINE_RETRY && run->retry_ms > 0) {
				t->at_ms = eng_now(e) + run->retry_ms;
				eng_mark(e, t, DIRTY_STATUS);
			}
		} else if (r == 0) {
			if (t->status == ENGINE_DOING)
				(void)eng_set_status(e, t, ENGINE_DONE);
			else if (t->status == ENGINE_ABORT)
				(void)eng_set_status(e, t, ENGINE_UNDO);
			else if (t->status == ENGINE_UNDOING)
				(void)eng_set_status(e, t, ENGINE_UNDONE);
		} else {
			fail_task(e, t, run, r);
		}
	}
	run_free(run);
	/*
	 * The outcome is committed with what the pass starts next (one
	 * transaction, before any of it is reported or run), or alone.
	 */
	eng_ensure(e);
	(void)eng_flush_prune(e);
	autoprune(e);
}

static void *worker(void *p)
{
	struct engine *e = p;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct engine_run *run;
		const struct eng_handler *h;
		engine_handler fn;
		struct eng_task *t;
		int r;

		while (!e->stopping && !e->q_head) {
			int64_t due = e->next_at, now, d;
			struct timespec ts;

			if (e->noticed) {
				d = e->notice_at - mono_ms();
				if (d <= 0) {
					notice(e);
				} else {
					mono_deadline(&ts, d);
					pthread_cond_timedwait(&e->work, &e->lock, &ts);
				}
				continue;
			}
			if (e->prune_at && (!due || e->prune_at < due))
				due = e->prune_at;
			if (!due) {
				pthread_cond_wait(&e->work, &e->lock);
				continue;
			}
			now = eng_now(e);
			d = due - now;
			if (d > 0) {
				mono_deadline(&ts, d);
				pthread_cond_timedwait(&e->work, &e->lock, &ts);
				continue;
			}
			if (e->next_at && e->next_at <= now)
				eng_ensure(e);
			if (e->prune_at && e->prune_at <= now)
				autoprune(e);
		}
		if (e->stopping)
			break;
		run = e->q_head;
		e->q_head = run->next;
		if (!e->q_head)
			e->q_tail = NULL;
		run->next = NULL;
		t = eng_task_find(e, run->task_id);
		h = t ? t->h : eng_handler_find(e, run->kind);
		fn = h ? (run->undo ? h->undo_fn : h->do_fn) : NULL;
		pthread_mutex_unlock(&e->lock);
		r = fn ? fn(run, h->ud) : ENGINE_RETRY;
		pthread_mutex_lock(&e->lock);
		complete(e, run, r);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void engine_free(struct engine *e)
{
	struct engine_run *run;

	while ((run = e->active)) {
		active_unlink(e, run);
		run_free(run);
	}
	eng_forget(e);
	free(e->chg);
	free(e->tasks);
	free(e->dirty);
	free(e->dirty_chg);
	for (size_t i = 0; i < e->n_handlers; i++)
		free(e->handlers[i].kind);
	free(e->handlers);
	free(e->threads);
	pthread_cond_destroy(&e->work);
	pthread_cond_destroy(&e->changed);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void engine_opts_default(struct engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->workers = 4;
	o->prune_age_ms = -1;
}

int engine_open(struct db *db, const struct engine_opts *o, struct engine **ret)
{
	struct engine *e;
	int r;

	if (!db || (o && (o->workers < 1 || o->workers > ENGINE_WORKERS_MAX)))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->db = db;
	if (o)
		e->o = *o;
	else
		engine_opts_default(&e->o);
	pthread_mutex_init(&e->lock, NULL);
	if (cond_init(&e->changed) < 0 || cond_init(&e->work) < 0) {
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_lock(&e->lock);
	r = eng_load(e);
	pthread_mutex_unlock(&e->lock);
	if (r < 0) {
		engine_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

int engine_add_handler(struct engine *e, const char *kind, engine_handler do_fn,
		       engine_handler undo_fn, void *ud)
{
	struct eng_handler *v;
	int r = 0;

	if (!kind || !*kind || strlen(kind) > ENGINE_KIND_MAX || !do_fn)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	if (e->started)
		r = -EBUSY;
	else if (eng_handler_find(e, kind))
		r = -EEXIST;
	if (r == 0) {
		v = realloc(e->handlers, (e->n_handlers + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
		} else {
			e->handlers = v;
			v[e->n_handlers].kind = strdup(kind);
			v[e->n_handlers].do_fn = do_fn;
			v[e->n_handlers].undo_fn = undo_fn;
			v[e->n_handlers].ud = ud;
			v[e->n_handlers].recurring = false;
			if (v[e->n_handlers].kind)
				e->n_handlers++;
			else
				r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

int engine_set_recurring(struct engine *e, const char *kind)
{
	struct eng_handler *h;
	int r = 0;

	pthread_mutex_lock(&e->lock);
	h = (struct eng_handler *)eng_handler_find(e, kind);
	if (e->started)
		r = -EBUSY;
	else if (!h)
		r = -ENOENT;
	else
		h->recurring = true;
	pthread_mutex_unlock(&e->lock);
	return r;
}

static void join_all(struct engine *e)
{
	for (size_t i = 0; i < e->n_threads; i++)
		pthread_join(e->threads[i], NULL);
	e->n_threads = 0;
}

int engine_start(struct engine *e)
{
	int r = 0;

	pthread_mutex_lock(&e->lock);
	if (e->started) {
		pthread_mutex_unlock(&e->lock);
		return -EBUSY;
	}
	/* Changes recorded since the open count too (engine_notice()). */
	(void)eng_refresh(e);
	/* The handler table is final now: point every task at its handler. */
	for (size_t i = 0; i < e->n_tasks; i++)
		e->tasks[i]->h = eng_handler_find(e, e->tasks[i]->kind);
	e->threads = calloc(e->o.workers, sizeof(*e->threads));
	if (!e->threads)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < e->o.workers; i++) {
		r = -pthread_create(&e->threads[i], NULL, worker, e);
		if (r == 0)
			e->n_threads++;
	}
	if (r < 0) {
		e->stopping = true;
		pthread_cond_broadcast(&e->work);
		pthread_mutex_unlock(&e->lock);
		join_all(e);
		pthread_mutex_lock(&e->lock);
		e->stopping = false;
	} else {
		e->started = true;
		e->noticed = false;
		eng_ensure(e);
		autoprune(e);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	for (struct engine_run *run = e->active; run; run = run->anext)
		eng_request_stop(e, run);
	pthread_cond_broadcast(&e->work);
	pthread_mutex_unlock(&e->lock);
	join_all(e);
	engine_free(e);
}

/* ---- waiting ---------------------------------------------------------------------- */

/* Waits on engine.changed until done(e, arg) says so, like engine_settle(). Lock held. */
static int wait_until(struct engine *e, bool (*done)(struct engine *, const void *), const void *arg,
		      int64_t timeout_ms, engine_interrupted interrupted, void *ud)
{
	int64_t end = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;

	for (;;) {
		struct timespec ts;
		int64_t d;

		if (done(e, arg))
			return 0;
		if (interrupted && interrupted(ud))
			return -EINTR;
		d = end < 0 ? -1 : end - mono_ms();
		if (end >= 0 && d <= 0)
			return -ETIMEDOUT;
		if (interrupted && (d < 0 || d > ENGINE_POLL_MS))
			d = ENGINE_POLL_MS;
		if (d < 0) {
			pthread_cond_wait(&e->changed, &e->lock);
		} else {
			mono_deadline(&ts, d);
			pthread_cond_timedwait(&e->changed, &e->lock, &ts);
		}
	}
}

/*
 * True when no change is in progress: no task is unready but recurring
 * work and tasks of kinds without a handler here, which this runner never
 * runs (snapd's settle waits only for the kinds its runner knows).
 */
static bool all_ready(struct engine *e, const void *arg)
{
	(void)arg;
	if (e->n_unready == 0)
		return true;
	for (size_t i = 0; i < e->n_chg; i++) {
		const struct eng_change *c = e->chg[i];
		for (size_t k = 0; !c->ready && k < c->n_tasks; k++)
			if (!engine_status_ready(c->tasks[k]->status) && c->tasks[k]->h &&
			    !c->tasks[k]->h->recurring)
				return false;
	}
	return true;
}

static bool gen_moved(struct engine *e, const void *arg)
{
	return e->gen != *(const uint64_t *)arg;
}

/* True when no task of kind (arg) is unready. */
static bool kind_ready(struct engine *e, const void *arg)
{
	const char *kind = arg;

	for (size_t i = 0; i < e->n_chg; i++) {
		const struct eng_change *c = e->chg[i];
		for (size_t k = 0; !c->ready && k < c->n_tasks; k++)
			if (!engine_status_ready(c->tasks[k]->status) &&
			    strcmp(c->tasks[k]->kind, kind) == 0)
				return false;
	}
	return true;
}

static int settle(struct engine *e, bool (*done)(struct engine *, const void *), const void *arg,
		  int64_t timeout_ms, engine_interrupted interrupted, void *ud)
{
	int r;

	pthread_mutex_lock(&e->lock);
	/* What was recorded before the call (engine_record_tx()) is waited for. */
	if (eng_refresh(e) == 0)
		eng_ensure(e);
	r = wait_until(e, done, arg, timeout_ms, interrupted, ud);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int engine_settle(struct engine *e, int64_t timeout_ms, engine_interrupted interrupted, void *ud)
{
	return settle(e, all_ready, NULL, timeout_ms, interrupted, ud);
}

int engine_settle_kind(struct engine *e, const char *kind, int64_t timeout_ms,
		       engine_interrupted interrupted, void *ud)
{
	return settle(e, kind_ready, kind, timeout_ms, interrupted, ud);
}

void engine_notice(struct engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->unread = true;
	if (!e->noticed) {
		e->noticed = true;
		e->notice_at = mono_ms() + ENGINE_NOTICE_MS;
		pthread_cond_signal(&e->work);
	}
	pthread_mutex_unlock(&e->lock);
}

int engine_wait(struct engine *e, uint64_t gen, int64_t timeout_ms, engine_interrupted interrupted,
		void *ud, uint64_t *ret_gen)
{
	int r;

	pthread_mutex_lock(&e->lock);
	(void)eng_refresh(e);
	r = wait_until(e, gen_moved, &gen, timeout_ms, interrupted, ud);
	if (r == 0)
		*ret_gen = e->gen;
	pthread_mutex_unlock(&e->lock);
	return r;
}

void engine_wake(struct engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->wakes++;
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
}
