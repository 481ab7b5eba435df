/*
 * Unit tests for the change and task engine (backend/engine*.c) on a real
 * SQLite file in a fresh directory per test. They port snapd's overlord
 * tests rule by rule (agents.md A13-A27 and the TaskRunner rules of A.5)
 * as tables where snapd used tables (abortLanesTests, sequenceTests,
 * TestStatusDerivedFromTasks), and add what the port adds: persistence
 * across a close and a kill -9, prune limits, ids never reused, settle
 * (timeout, interrupt), bounded concurrency, records inside a caller's
 * transaction, and the cost of reads.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "engine.h"
#include "banned.h"

static const char *const *const engine_sql[] = {engine_schema, NULL};
static const struct db_step engine_step = {.what = "create the engine's tables", .sql = engine_sql};
static const struct db_schema engine_only = {&engine_step, 1};

struct fx {
	char dir[64];
	char path[128];
	struct db *db;
	struct engine *e;
	int64_t now; /* the fake clock (ms), when used */
};

static int64_t fake_clock(void *ud)
{
	struct fx *f = ud;

	return __atomic_load_n(&f->now, __ATOMIC_SEQ_CST);
}

static void open_db(struct fx *f)
{
	char err[256] = "";

	if (db_open(f->path, false, &engine_only, &f->db, err, sizeof(err)) < 0)
		fail_msg("db_open: %s", err);
}

static void open_engine(struct fx *f, unsigned workers, bool fake)
{
	struct engine_opts o;

	engine_opts_default(&o);
	o.workers = workers;
	if (fake) {
		o.clock = fake_clock;
		o.clock_ud = f;
	}
	assert_int_equal(engine_open(f->db, &o, &f->e), 0);
}

static void close_all(struct fx *f)
{
	engine_close(f->e);
	f->e = NULL;
	db_close(f->db);
	f->db = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_engine.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/charmfs.db", f->dir);
	f->now = INT64_C(1700000000000);
	open_db(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	engine_close(f->e);
	db_close(f->db);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum engine_status task_status(struct engine *e, int64_t id)
{
	struct engine_task_info *ti;
	enum engine_status s;

	assert_int_equal(engine_task_get(e, id, &ti), 0);
	s = ti->status;
	engine_task_info_free(ti);
	return s;
}

static struct engine_change_info *change(struct engine *e, int64_t id)
{
	struct engine_change_info *ci;

	assert_int_equal(engine_change_get(e, id, &ci), 0);
	return ci;
}

static enum engine_status change_status(struct engine *e, int64_t id)
{
	struct engine_change_info *ci = change(e, id);
	enum engine_status s = ci->status;

	engine_change_info_free(ci);
	return s;
}

/* The task ids of change id into v (at most max). */
static size_t tasks_of(struct engine *e, int64_t id, int64_t *v, size_t max)
{
	int64_t *ids;
	size_t n;

	assert_int_equal(engine_task_ids(e, id, &ids, &n), 0);
	assert_true(n <= max);
	memcpy(v, ids, n * sizeof(*v));
	free(ids);
	return n;
}

/* A change of n plain tasks of kind, none waiting. */
static int64_t add_plain(struct engine *e, const char *kind, size_t n, enum engine_status s)
{
	struct engine_task_spec spec[16];
	int64_t id;

	assert_true(n <= ARRAY_SIZE(spec));
	memset(spec, 0, sizeof(spec));
	for (size_t i = 0; i < n; i++) {
		spec[i].kind = kind;
		spec[i].summary = "task";
		spec[i].status = s;
	}
	assert_int_equal(engine_change_add(e, "test", "a test", spec, n, &id), 0);
	return id;
}

/* ---- A13, A14, A15: statuses ------------------------------------------------------- */

static void test_status_ready(void **state)
{
	static const struct {
		enum engine_status s;
		const char *name;
		bool ready;
	} table[] = {
		{ENGINE_DEFAULT, "Do", false}, {ENGINE_HOLD, "Hold", true},
		{ENGINE_DO, "Do", false},      {ENGINE_DOING, "Doing", false},
		{ENGINE_DONE, "Done", true},   {ENGINE_ABORT, "Abort", false},
		{ENGINE_UNDO, "Undo", false},  {ENGINE_UNDOING, "Undoing", false},
		{ENGINE_UNDONE, "Undone", true}, {ENGINE_ERROR, "Error", true},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		assert_string_equal(engine_status_name(table[i].s), table[i].name);
		assert_int_equal(engine_status_ready(table[i].s), table[i].ready);
	}
	assert_string_equal(engine_status_name((enum engine_status)42), "?");
}

static void test_status_default_is_do(void **state)
{
	struct fx *f = *state;
	enum engine_status zero = ENGINE_DEFAULT;
	int64_t id, t;

	open_engine(f, 1, false);
	id = add_plain(f->e, "x", 1, ENGINE_DEFAULT);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	assert_int_equal(task_status(f->e, t), ENGINE_DO);
	assert_int_equal(engine_status_derive(&zero, 1), ENGINE_DO);
}

/* snapd's TestStatusDerivedFromTasks: one task per status, stepped down the order. */
static void test_status_derived(void **state)
{
	static const enum engine_status order[] = {
		ENGINE_ABORT, ENGINE_UNDOING, ENGINE_UNDO, ENGINE_DOING, ENGINE_DO,
		ENGINE_ERROR, ENGINE_UNDONE,  ENGINE_DONE, ENGINE_HOLD,
	};
	struct fx *f = *state;
	struct engine_task_spec spec[ARRAY_SIZE(order)];
	int64_t id, tid[ARRAY_SIZE(order)], ready_at = 0;

	assert_int_equal(engine_status_derive(NULL, 0), ENGINE_HOLD);
	open_engine(f, 1, true);
	memset(spec, 0, sizeof(spec));
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		spec[i].kind = "download";
		spec[i].summary = engine_status_name(order[i]);
		spec[i].status = order[i];
	}
	assert_int_equal(engine_change_add(f->e, "install", "...", spec, ARRAY_SIZE(order), &id), 0);
	assert_int_equal(tasks_of(f->e, id, tid, ARRAY_SIZE(tid)), ARRAY_SIZE(order));
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct engine_change_info *ci;
		enum engine_status pure[ARRAY_SIZE(order)];

		f->now += 1000;
		for (size_t k = 0; k < i; k++)
			assert_int_equal(engine_task_set_status(f->e, tid[k], order[i]), 0);
		for (size_t k = 0; k < ARRAY_SIZE(order); k++)
			pure[k] = k < i ? order[i] : order[k];
		assert_int_equal(engine_status_derive(pure, ARRAY_SIZE(order)), order[i]);
		ci = change(f->e, id);
		assert_int_equal(ci->status, order[i]);
		/* A17: ready from the step where no unready task is left (Error), stamped once. */
		assert_int_equal(ci->ready, i >= 5);
		if (i == 5)
			ready_at = f->now;
		assert_int_equal(ci->ready_ms, i >= 5 ? ready_at : 0);
		engine_change_info_free(ci);
	}
}

/* ---- A17, A18: readiness ------------------------------------------------------------- */

static void test_ready_once(void **state)
{
	struct fx *f = *state;
	struct engine_change_info *ci;
	int64_t id, t[2];

	open_engine(f, 1, true);
	id = add_plain(f->e, "x", 2, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	ci = change(f->e, id);
	assert_false(ci->ready);
	assert_int_equal(ci->ready_ms, 0);
	assert_int_equal(ci->spawn_ms, f->now);
	engine_change_info_free(ci);

	f->now += 1000;
	assert_int_equal(engine_task_set_status(f->e, t[0], ENGINE_DONE), 0);
	ci = change(f->e, id);
	assert_false(ci->ready);
	engine_change_info_free(ci);

	f->now += 1000;
	assert_int_equal(engine_task_set_status(f->e, t[1], ENGINE_DONE), 0);
	ci = change(f->e, id);
	assert_true(ci->ready);
	assert_int_equal(ci->ready_ms, f->now);
	engine_change_info_free(ci);

	/* Ready to ready keeps the stamp; ready to unready is the bug A17 panics on: refused. */
	f->now += 1000;
	assert_int_equal(engine_task_set_status(f->e, t[1], ENGINE_ERROR), 0);
	assert_int_equal(engine_task_set_status(f->e, t[0], ENGINE_DO), -EINVAL);
	assert_int_equal(engine_task_set_status(f->e, t[0], ENGINE_DOING), -EINVAL);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DONE);
	ci = change(f->e, id);
	assert_true(ci->ready);
	assert_int_equal(ci->status, ENGINE_ERROR);
	assert_int_equal(ci->ready_ms, f->now - 1000);
	engine_change_info_free(ci);
	assert_int_equal(engine_abort(f->e, id), -EALREADY);

	/* On load, a change whose tasks are ready is ready, with its stamp. */
	close_all(f);
	open_db(f);
	open_engine(f, 1, true);
	ci = change(f->e, id);
	assert_true(ci->ready);
	assert_int_equal(ci->ready_ms, f->now - 1000);
	engine_change_info_free(ci);
	assert_int_equal(engine_settle(f->e, 0, NULL, NULL), 0);
}

static void test_task_ready_time(void **state)
{
	struct fx *f = *state;
	struct engine_task_info *ti;
	int64_t id, t, d[2];

	open_engine(f, 1, true);
	/* Done, then undone: stamped at each move from unready to ready. */
	id = add_plain(f->e, "x", 2, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, d, 2), 2);
	assert_int_equal(engine_task_set_status(f->e, d[0], ENGINE_DONE), 0);
	assert_int_equal(engine_abort(f->e, id), 0);
	assert_int_equal(task_status(f->e, d[0]), ENGINE_UNDO);
	f->now += 3000;
	assert_int_equal(engine_task_set_status(f->e, d[0], ENGINE_UNDONE), 0);
	assert_int_equal(engine_task_get(f->e, d[0], &ti), 0);
	assert_int_equal(ti->ready_ms, f->now);
	engine_task_info_free(ti);

	id = add_plain(f->e, "x", 1, ENGINE_DOING);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	assert_int_equal(engine_abort(f->e, id), 0);
	assert_int_equal(task_status(f->e, t), ENGINE_ABORT);
	/* A18: Done is ignored while in Abort (so the task can still be undone). */
	assert_int_equal(engine_task_set_status(f->e, t, ENGINE_DONE), 0);
	assert_int_equal(task_status(f->e, t), ENGINE_ABORT);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->ready_ms, 0);
	engine_task_info_free(ti);
	f->now += 5000;
	assert_int_equal(engine_task_set_status(f->e, t, ENGINE_UNDONE), 0);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->ready_ms, f->now);
	engine_task_info_free(ti);
	/* Ready to ready keeps the stamp. */
	f->now += 5000;
	assert_int_equal(engine_task_set_status(f->e, t, ENGINE_ERROR), 0);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->ready_ms, f->now - 5000);
	engine_task_info_free(ti);
	assert_int_equal(engine_task_set_status(f->e, t, (enum engine_status)99), -EINVAL);
	assert_int_equal(engine_task_set_status(f->e, 999, ENGINE_DONE), -ENOENT);
}

/* ---- A19: err ------------------------------------------------------------------------ */

static void test_err(void **state)
{
	struct fx *f = *state;
	struct engine_task_spec spec[2] = {
		{.kind = "download", .summary = "Download"},
		{.kind = "activate", .summary = "Activate"},
	};
	struct engine_change_info *ci;
	int64_t id, t[2];

	open_engine(f, 1, false);
	assert_int_equal(engine_change_add(f->e, "install", "...", spec, 2, &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	ci = change(f->e, id);
	assert_null(ci->err);
	engine_change_info_free(ci);

	/* t2 still to do: the change is not in Error yet. */
	assert_int_equal(engine_task_set_status(f->e, t[0], ENGINE_ERROR), 0);
	ci = change(f->e, id);
	assert_null(ci->err);
	engine_change_info_free(ci);

	assert_int_equal(engine_task_set_status(f->e, t[1], ENGINE_ERROR), 0);
	ci = change(f->e, id);
	assert_string_equal(ci->err, "internal inconsistency: change \"install\" in ErrorStatus "
				     "with no task errors logged");
	engine_change_info_free(ci);

	assert_int_equal(engine_task_logf(f->e, t[0], false, "not an error"), 0);
	assert_int_equal(engine_task_logf(f->e, t[0], true, "Download error"), 0);
	ci = change(f->e, id);
	assert_string_equal(ci->err, "cannot perform the following tasks:\n"
				     "- Download (Download error)");
	engine_change_info_free(ci);

	assert_int_equal(engine_task_logf(f->e, t[1], true, "Activate error"), 0);
	ci = change(f->e, id);
	assert_string_equal(ci->err, "cannot perform the following tasks:\n"
				     "- Download (Download error)\n"
				     "- Activate (Activate error)");
	engine_change_info_free(ci);
}

/* ---- A23, A24: wait-for and lanes ------------------------------------------------------ */

static void test_wait_for_and_lanes(void **state)
{
	struct fx *f = *state;
	static const size_t w1[] = {0, 0}, w2[] = {0, 1};
	static const int l1[] = {1}, l2[] = {1, 2, 2};
	struct engine_task_spec spec[3] = {
		{.kind = "a", .summary = "A"},
		{.kind = "b", .summary = "B", .wait_for = w1, .n_wait = 2, .lanes = l1, .n_lanes = 1},
		{.kind = "c", .summary = "C", .wait_for = w2, .n_wait = 2, .lanes = l2, .n_lanes = 3},
	};
	struct engine_task_info *ti;
	int64_t id, t[3];
	int lane;

	open_engine(f, 1, false);
	assert_int_equal(engine_change_add(f->e, "k", "s", spec, 3, &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, 3), 3);
	assert_true(t[0] < t[1] && t[1] < t[2]);

	assert_int_equal(engine_task_get(f->e, t[0], &ti), 0);
	assert_int_equal(ti->n_wait, 0);
	assert_int_equal(ti->n_lanes, 1); /* A24: [0] when none joined */
	assert_int_equal(ti->lanes[0], 0);
	engine_task_info_free(ti);

	assert_int_equal(engine_task_get(f->e, t[1], &ti), 0);
	assert_int_equal(ti->n_wait, 1); /* A23: at most once */
	assert_int_equal(ti->wait_for[0], t[0]);
	assert_int_equal(ti->n_lanes, 1);
	assert_int_equal(ti->lanes[0], 1);
	engine_task_info_free(ti);

	assert_int_equal(engine_task_get(f->e, t[2], &ti), 0);
	assert_int_equal(ti->n_wait, 2);
	assert_int_equal(ti->wait_for[0], t[0]);
	assert_int_equal(ti->wait_for[1], t[1]);
	assert_int_equal(ti->n_lanes, 3); /* order kept, duplicates not filtered */
	assert_int_equal(ti->lanes[0], 1);
	assert_int_equal(ti->lanes[1], 2);
	assert_int_equal(ti->lanes[2], 2);
	engine_task_info_free(ti);

	/* A9: lanes count 1, 2, ... and the counter persists. */
	assert_int_equal(engine_new_lane(f->e, &lane), 0);
	assert_int_equal(lane, 1);
	assert_int_equal(engine_new_lane(f->e, &lane), 0);
	assert_int_equal(lane, 2);
	close_all(f);
	open_db(f);
	open_engine(f, 1, false);
	assert_int_equal(engine_new_lane(f->e, &lane), 0);
	assert_int_equal(lane, 3);
	assert_int_equal(engine_task_get(f->e, t[2], &ti), 0);
	assert_int_equal(ti->n_wait, 2);
	assert_int_equal(ti->n_lanes, 3);
	engine_task_info_free(ti);
}

static void test_bad_specs(void **state)
{
	struct fx *f = *state;
	static const size_t w_self[] = {0}, w_out[] = {5}, w_0[] = {0}, w_1[] = {1};
	static const int l_neg[] = {-1};
	char *big = malloc(ENGINE_DATA_MAX + 2);
	struct engine_task_spec cyc[2] = {
		{.kind = "a", .summary = "", .wait_for = w_1, .n_wait = 1},
		{.kind = "b", .summary = "", .wait_for = w_0, .n_wait = 1},
	};
	struct engine_task_spec one = {.kind = "a", .summary = ""};
	struct engine_task_spec s;
	int64_t id;

	assert_non_null(big);
	memset(big, 'x', ENGINE_DATA_MAX + 1);
	big[ENGINE_DATA_MAX + 1] = '\0';
	open_engine(f, 1, false);
	assert_int_equal(engine_change_add(f->e, "k", "s", &one, 0, &id), -EINVAL);
	assert_int_equal(engine_change_add(f->e, "k", "s", cyc, 2, &id), -EINVAL);
	s = one, s.wait_for = w_self, s.n_wait = 1;
	assert_int_equal(engine_change_add(f->e, "k", "s", &s, 1, &id), -EINVAL);
	s = one, s.wait_for = w_out, s.n_wait = 1;
	assert_int_equal(engine_change_add(f->e, "k", "s", &s, 1, &id), -EINVAL);
	s = one, s.lanes = l_neg, s.n_lanes = 1;
	assert_int_equal(engine_change_add(f->e, "k", "s", &s, 1, &id), -EINVAL);
	s = one, s.kind = "";
	assert_int_equal(engine_change_add(f->e, "k", "s", &s, 1, &id), -EINVAL);
	s = one, s.data = big;
	assert_int_equal(engine_change_add(f->e, "k", "s", &s, 1, &id), -EFBIG);
	assert_int_equal(engine_change_add(f->e, "", "s", &one, 1, &id), -EINVAL);
	free(big);
	/* Nothing was stored, and a good change gets the next id. */
	assert_int_equal(engine_change_add(f->e, "k", "s", &one, 1, &id), 0);
	assert_int_equal(id, 1);
}

/* ---- A25, A26: log and progress ---------------------------------------------------------- */

static bool is_rfc3339(const char *s)
{
	int y, mo, d, h, mi, se;
	char z;

	return sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) == 7 &&
	       z == 'Z' && strlen(s) >= 20 && s[20] == ' ';
}

static void test_log(void **state)
{
	struct fx *f = *state;
	struct engine_task_info *ti;
	char want[64];
	int64_t id, t;

	open_engine(f, 1, true);
	id = add_plain(f->e, "x", 1, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(engine_task_logf(f->e, t, false, "Message #%d", i), 0);
	assert_int_equal(engine_task_logf(f->e, t, true, "multi\nline"), 0);
	close_all(f); /* the log is persistent */
	open_db(f);
	open_engine(f, 1, true);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->n_log, ENGINE_LOG_MAX);
	for (size_t i = 0; i < ti->n_log; i++) {
		assert_true(is_rfc3339(ti->log[i]));
		if (i + 1 < ti->n_log)
			snprintf(want, sizeof(want), "2023-11-14T22:13:20Z INFO Message #%zu", i + 11);
		else
			snprintf(want, sizeof(want), "2023-11-14T22:13:20Z ERROR multi line");
		assert_string_equal(ti->log[i], want);
	}
	engine_task_info_free(ti);
}

struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	int step;   /* the handler's progress, for the test */
	int go;	    /* the test's go-ahead, for the handler */
	atomic_int calls;
	atomic_int undo_calls;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static void gate_reset(void)
{
	pthread_mutex_lock(&gate.m);
	gate.step = gate.go = 0;
	atomic_store(&gate.calls, 0);
	atomic_store(&gate.undo_calls, 0);
	pthread_mutex_unlock(&gate.m);
}

/* Sets step and waits (up to 10 s) until go reaches want. */
static void gate_handler_step(int step, int want)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate.m);
	gate.step = step;
	pthread_cond_broadcast(&gate.c);
	while (gate.go < want && pthread_cond_timedwait(&gate.c, &gate.m, &ts) == 0)
		;
	pthread_mutex_unlock(&gate.m);
}

/* The test side: waits until the handler reached step. */
static void gate_wait_step(int step)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate.m);
	while (gate.step < step)
		assert_int_equal(pthread_cond_timedwait(&gate.c, &gate.m, &ts), 0);
	pthread_mutex_unlock(&gate.m);
}

static void gate_go(int go)
{
	pthread_mutex_lock(&gate.m);
	gate.go = go;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
}

static int progress_do(struct engine_run *run, void *ud)
{
	(void)ud;
	engine_run_set_progress(run, "fetching", 3, 10);
	gate_handler_step(1, 1);
	engine_run_set_progress(run, "fetching", 11, 10); /* done > total clears */
	gate_handler_step(2, 2);
	engine_run_set_progress(run, "fetched", 10, 10);
	gate_handler_step(3, 3);
	return 0;
}

static void progress_of(struct fx *f, int64_t t, const char *label, int64_t done, int64_t total)
{
	struct engine_task_info *ti;

	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_string_equal(ti->progress_label, label);
	assert_int_equal(ti->progress_done, done);
	assert_int_equal(ti->progress_total, total);
	engine_task_info_free(ti);
}

/* The progress columns as stored (intermediate progress is not persisted, A26). */
static int64_t stored_total(struct fx *f, int64_t t)
{
	sqlite3_stmt *st = db_prep(f->db, "SELECT progress_total FROM engine_tasks WHERE id = ?");
	int64_t v;

	assert_non_null(st);
	sqlite3_bind_int64(st, 1, t);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	db_reset(st);
	return v;
}

static void test_progress(void **state)
{
	struct fx *f = *state;
	int64_t id, t;

	gate_reset();
	open_engine(f, 1, false);
	assert_int_equal(engine_add_handler(f->e, "fetch", progress_do, NULL, NULL), 0);
	id = add_plain(f->e, "fetch", 1, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	progress_of(f, t, "", 0, 1); /* Do: ("", 0, 1) */
	assert_int_equal(engine_start(f->e), 0);
	gate_wait_step(1);
	progress_of(f, t, "fetching", 3, 10);
	assert_int_equal(stored_total(f, t), 0);
	gate_go(1);
	gate_wait_step(2);
	progress_of(f, t, "", 1, 1); /* cleared; Doing: ("", 1, 1) */
	gate_go(2);
	gate_wait_step(3);
	progress_of(f, t, "fetched", 10, 10);
	assert_int_equal(stored_total(f, t), 10); /* final progress is committed */
	gate_go(3);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	progress_of(f, t, "fetched", 10, 10);
}

/* ---- A27, A30: retry and at -------------------------------------------------------------- */

static int64_t retry_first_ms, retry_second_ms;

static int retry_do(struct engine_run *run, void *ud)
{
	(void)ud;
	if (atomic_fetch_add(&gate.calls, 1) == 0) {
		retry_first_ms = mono_ms();
		return engine_run_retry(run, 150);
	}
	retry_second_ms = mono_ms();
	return 0;
}

static void test_retry_at(void **state)
{
	struct fx *f = *state;
	struct engine_task_info *ti;
	int64_t id, t, before;

	gate_reset();
	open_engine(f, 2, false);
	assert_int_equal(engine_add_handler(f->e, "r", retry_do, NULL, NULL), 0);
	id = add_plain(f->e, "r", 1, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	before = engine_now_ms();
	assert_int_equal(engine_start(f->e), 0);
	while (atomic_load(&gate.calls) == 0)
		usleep(1000);
	/* Until it is due, the task stays Doing with its at time set. */
	usleep(20000);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	if (atomic_load(&gate.calls) == 1) {
		assert_int_equal(ti->status, ENGINE_DOING);
		assert_true(ti->at_ms >= before + 150);
		assert_true(ti->at_ms <= engine_now_ms() + 150);
	}
	engine_task_info_free(ti);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_true(retry_second_ms - retry_first_ms >= 140);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->status, ENGINE_DONE);
	assert_int_equal(ti->at_ms, 0); /* cleared when it ran */
	engine_task_info_free(ti);
}

/* ---- A33: abort ------------------------------------------------------------------------------ */

/* snapd's TestAbort: every status, in one unready change. */
static void test_abort_statuses(void **state)
{
	static const struct {
		enum engine_status from, to;
	} table[] = {
		{ENGINE_HOLD, ENGINE_HOLD},	  {ENGINE_DO, ENGINE_HOLD},
		{ENGINE_DOING, ENGINE_ABORT},	  {ENGINE_DONE, ENGINE_UNDO},
		{ENGINE_ABORT, ENGINE_ABORT},	  {ENGINE_UNDO, ENGINE_UNDO},
		{ENGINE_UNDOING, ENGINE_UNDOING}, {ENGINE_UNDONE, ENGINE_UNDONE},
		{ENGINE_ERROR, ENGINE_ERROR},
	};
	struct fx *f = *state;
	struct engine_task_spec spec[ARRAY_SIZE(table)];
	int64_t id, t[ARRAY_SIZE(table)];

	open_engine(f, 1, false);
	memset(spec, 0, sizeof(spec));
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		spec[i].kind = "x";
		spec[i].summary = engine_status_name(table[i].from);
		spec[i].status = table[i].from;
	}
	assert_int_equal(engine_change_add(f->e, "k", "s", spec, ARRAY_SIZE(table), &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, ARRAY_SIZE(t)), ARRAY_SIZE(table));
	assert_int_equal(engine_abort(f->e, id), 0);
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		assert_int_equal(task_status(f->e, t[i]), table[i].to);
	assert_int_equal(engine_abort(f->e, 12345), -ENOENT);
}

/* Builds "name:status[:lanes]" setups over the names; "*" covers the rest. */
static const char *const lane_names[] = {"t11", "t12", "t21", "t22", "t31", "t32", "t41", "t42"};

static enum engine_status status_of_word(const char *w)
{
	static const char *const words[] = {
		[ENGINE_HOLD] = "hold", [ENGINE_DO] = "do", [ENGINE_DOING] = "doing",
		[ENGINE_DONE] = "done", [ENGINE_ABORT] = "abort", [ENGINE_UNDO] = "undo",
		[ENGINE_UNDOING] = "undoing", [ENGINE_UNDONE] = "undone", [ENGINE_ERROR] = "error",
	};

	for (size_t i = 1; i < ARRAY_SIZE(words); i++)
		if (strcmp(words[i], w) == 0)
			return (enum engine_status)i;
	fail_msg("unknown status %s", w);
	return ENGINE_DEFAULT;
}

struct item {
	char name[8];
	char what[32];
	int lanes[4];
	size_t n_lanes;
};

/* Splits "t11:do:1,2 ..." into items. */
static size_t parse_items(const char *s, struct item *v, size_t max)
{
	char buf[512], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *p2 = strchr(w, ':'), *p3;
		struct item *it = &v[n++];
		assert_true(n <= max);
		memset(it, 0, sizeof(*it));
		assert_non_null(p2);
		*p2++ = '\0';
		p3 = strchr(p2, ':');
		if (p3) {
			*p3++ = '\0';
			for (char *s2 = NULL, *l = strtok_r(p3, ",", &s2); l; l = strtok_r(NULL, ",", &s2))
				it->lanes[it->n_lanes++] = (int)strtol(l, NULL, 10);
		}
		snprintf(it->name, sizeof(it->name), "%s", w);
		snprintf(it->what, sizeof(it->what), "%s", p2);
	}
	return n;
}

static void test_abort_lanes_table(void **state)
{
	/* The graph t11 -> t12 -> {t21 -> t22, t31 -> t32} -> t41 -> t42 (snapd's abortLanesTests). */
	static const struct {
		const char *setup;
		int abort[2];
		size_t n_abort;
		const char *result;
	} table[] = {
		{"*:do", {0}, 0, "*:do"},
		{"*:do", {1}, 1, "*:do"},
		{"*:do", {0}, 1, "*:hold"},
		{"t11:done t12:doing t22:do *:do", {0}, 1, "t11:undo t12:abort t22:hold *:hold"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {0}, 1, "*:do"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {1}, 1,
		 "*:hold"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {2}, 1,
		 "t21:hold t22:hold t41:hold t42:hold *:do"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {3}, 1,
		 "t31:hold t32:hold t41:hold t42:hold *:do"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {2, 3}, 2,
		 "t21:hold t22:hold t31:hold t32:hold t41:hold t42:hold *:do"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {4}, 1,
		 "t41:hold t42:hold *:do"},
		{"t11:do:1 t12:do:1 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {5}, 1,
		 "*:do"},
		{"t11:do:2,3 t12:do:2,3 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {2}, 1,
		 "t21:hold t22:hold t41:hold t42:hold *:do"},
		{"t11:do:2,3 t12:do:2,3 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {3}, 1,
		 "t31:hold t32:hold t41:hold t42:hold *:do"},
		{"t11:do:2,3 t12:do:2,3 t21:do:2 t22:do:2 t31:do:3 t32:do:3 t41:do:4 t42:do:4", {2, 3},
		 2, "*:hold"},
		{"t41:error:4 t42:do:4 *:do:1", {1}, 1, "t41:error *:hold"},
	};
	static const size_t w12[] = {0}, w21[] = {1}, w22[] = {2}, w31[] = {1}, w32[] = {4},
			    w41[] = {3, 5}, w42[] = {6};
	static const size_t *const waits[] = {NULL, w12, w21, w22, w31, w32, w41, w42};
	static const size_t n_waits[] = {0, 1, 1, 1, 1, 1, 2, 1};
	struct fx *f = *state;

	open_engine(f, 1, false);
	for (size_t row = 0; row < ARRAY_SIZE(table); row++) {
		struct engine_task_spec spec[8];
		struct item it[16];
		int64_t id, t[8];
		bool seen[8] = {false};
		size_t n = parse_items(table[row].setup, it, ARRAY_SIZE(it));

		memset(spec, 0, sizeof(spec));
		for (size_t i = 0; i < 8; i++) {
			spec[i].kind = "do";
			spec[i].summary = lane_names[i];
			spec[i].wait_for = waits[i];
			spec[i].n_wait = n_waits[i];
		}
		for (size_t k = 0; k < n; k++) {
			for (size_t i = 0; i < 8; i++) {
				if (strcmp(it[k].name, "*") == 0 ? seen[i]
								  : strcmp(it[k].name, lane_names[i]))
					continue;
				seen[i] = true;
				spec[i].status = status_of_word(it[k].what);
				spec[i].lanes = it[k].lanes;
				spec[i].n_lanes = it[k].n_lanes;
			}
		}
		assert_int_equal(engine_change_add(f->e, "install", "...", spec, 8, &id), 0);
		assert_int_equal(tasks_of(f->e, id, t, 8), 8);
		assert_int_equal(engine_abort_lanes(f->e, id, table[row].abort, table[row].n_abort), 0);
		memset(seen, 0, sizeof(seen));
		n = parse_items(table[row].result, it, ARRAY_SIZE(it));
		for (size_t k = 0; k < n; k++) {
			for (size_t i = 0; i < 8; i++) {
				if (strcmp(it[k].name, "*") == 0 ? seen[i]
								  : strcmp(it[k].name, lane_names[i]))
					continue;
				seen[i] = true;
				if (task_status(f->e, t[i]) != status_of_word(it[k].what))
					fail_msg("row %zu (%s): %s is %s, want %s", row,
						 table[row].setup, lane_names[i],
						 engine_status_name(task_status(f->e, t[i])),
						 it[k].what);
			}
		}
	}
}

/* ---- A34: the runner's sequences ----------------------------------------------------------- */

struct trace {
	pthread_mutex_t m;
	char ev[64][32];
	size_t n;
};

static struct trace trace = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

/* Appends an event, keeping t11/t12 and t31/t32 in one order when next to each other (as snapd). */
static void trace_add(const char *summary, const char *label)
{
	pthread_mutex_lock(&trace.m);
	if (trace.n < ARRAY_SIZE(trace.ev)) {
		snprintf(trace.ev[trace.n++], sizeof(trace.ev[0]), "%s:%s", summary, label);
		for (size_t i = trace.n - 1; i-- > 0;) {
			char *prev = trace.ev[i], *next = trace.ev[i + 1], tmp[32];
			const char *lbl = strchr(next, ':') + 1;
			if (strcmp(lbl, "do-unblock") == 0 || strcmp(lbl, "undo-unblock") == 0)
				break;
			if (!(prev[1] == next[1] && prev[2] > next[2]))
				break;
			memcpy(tmp, prev, sizeof(tmp));
			memcpy(prev, next, sizeof(tmp));
			memcpy(next, tmp, sizeof(tmp));
		}
	}
	pthread_mutex_unlock(&trace.m);
}

static bool has_word(const char *data, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = data; p && (p = strstr(p, w)); p += n)
		if ((p == data || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static int seq_handler(struct engine_run *run, const char *label)
{
	const char *summary = engine_run_summary(run);
	const char *data = engine_run_data(run);
	char w[32];

	trace_add(summary, label);
	snprintf(w, sizeof(w), "%s-block", label);
	if (has_word(data, w)) {
		trace_add(summary, w);
		assert_true(engine_run_wait_stop(run, 10000));
		snprintf(w, sizeof(w), "%s-unblock", label);
		trace_add(summary, w);
	}
	snprintf(w, sizeof(w), "%s-retry", label);
	if (has_word(data, w)) {
		char nd[256] = "";
		/* Retry once: drop the word from the data (snapd: task.Set(label+"-retry", false)). */
		for (const char *p = data; *p;) {
			size_t len = strcspn(p, " ");
			if (len != strlen(w) || strncmp(p, w, len) != 0)
				snprintf(nd + strlen(nd), sizeof(nd) - strlen(nd), "%s%.*s",
					 nd[0] ? " " : "", (int)len, p);
			p += len + (p[len] == ' ');
		}
		assert_int_equal(engine_run_set_data(run, nd), 0);
		trace_add(summary, w);
		return engine_run_retry(run, 0);
	}
	snprintf(w, sizeof(w), "%s-error", label);
	if (has_word(data, w)) {
		trace_add(summary, w);
		return engine_run_fail(run, -EIO, "boom");
	}
	return 0;
}

static int seq_do(struct engine_run *run, void *ud)
{
	(void)ud;
	return seq_handler(run, "do");
}

static int seq_undo(struct engine_run *run, void *ud)
{
	(void)ud;
	return seq_handler(run, "undo");
}

static void test_sequences(void **state)
{
	/* The graph (t11|t12) -> t21 -> (t31|t32); t12 has no undo handler (snapd's sequenceTests). */
	static const struct {
		const char *setup, *result;
	} table[] = {
		{"", "t11:do t12:do t21:do t31:do t32:do"},
		{"t11:was-done t12:was-doing", "t12:do t21:do t31:do t32:do"},
		{"t11:was-done t12:was-doing chg:abort", "t11:undo"},
		{"t12:do-retry", "t11:do t12:do t12:do-retry t12:do t21:do t31:do t32:do"},
		{"t11:do-block t12:do-error",
		 "t11:do t11:do-block t12:do t12:do-error t11:do-unblock t11:undo"},
		{"t11:do-error t12:do-block",
		 "t11:do t11:do-error t12:do t12:do-block t12:do-unblock"},
		{"t11:do-block t11:do-retry t12:do-error",
		 "t11:do t11:do-block t12:do t12:do-error t11:do-unblock t11:do-retry t11:undo"},
		{"t11:do-error t12:do-block t12:do-retry",
		 "t11:do t11:do-error t12:do t12:do-block t12:do-unblock t12:do-retry"},
		{"t31:do-error t21:undo-error",
		 "t11:do t12:do t21:do t31:do t31:do-error t32:do t32:undo t21:undo t21:undo-error "
		 "t11:undo"},
		{"t11:was-done:1 t12:was-done:2 t21:was-done:1,2 t31:was-done:1 t32:do-error:2",
		 "t31:undo t32:do t32:do-error t21:undo t11:undo"},
		{"t11:was-done:1 t12:was-done:2 t21:was-done:2 t31:was-done:2 t32:do-error:2",
		 "t31:undo t32:do t32:do-error t21:undo"},
	};
	static const char *const names[] = {"t11", "t12", "t21", "t31", "t32"};
	static const size_t w21[] = {0, 1}, w3x[] = {2};
	struct fx *f = *state;

	for (size_t row = 0; row < ARRAY_SIZE(table); row++) {
		struct engine_task_spec spec[5];
		char data[5][128];
		struct item it[16];
		enum engine_status want[5];
		char got[512] = "";
		bool abort_chg = false;
		int64_t id, t[5];
		size_t n = parse_items(table[row].setup, it, ARRAY_SIZE(it));

		memset(spec, 0, sizeof(spec));
		memset(data, 0, sizeof(data));
		for (size_t i = 0; i < 5; i++) {
			spec[i].kind = i == 1 ? "do" : "do-undo";
			spec[i].summary = names[i];
			spec[i].data = data[i];
			want[i] = ENGINE_HOLD;
		}
		spec[2].wait_for = w21, spec[2].n_wait = 2;
		spec[3].wait_for = w3x, spec[3].n_wait = 1;
		spec[4].wait_for = w3x, spec[4].n_wait = 1;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(it[k].name, "chg") == 0) {
				abort_chg = true;
				continue;
			}
			for (size_t i = 0; i < 5; i++) {
				if (strcmp(it[k].name, names[i]) != 0)
					continue;
				if (strncmp(it[k].what, "was-", 4) == 0)
					spec[i].status = status_of_word(it[k].what + 4);
				else
					snprintf(data[i] + strlen(data[i]), 128 - strlen(data[i]),
						 "%s%s", data[i][0] ? " " : "", it[k].what);
				if (it[k].n_lanes) {
					spec[i].lanes = it[k].lanes;
					spec[i].n_lanes = it[k].n_lanes;
				}
			}
		}
		trace.n = 0;
		open_engine(f, 8, false);
		assert_int_equal(engine_add_handler(f->e, "do", seq_do, NULL, NULL), 0);
		assert_int_equal(engine_add_handler(f->e, "do-undo", seq_do, seq_undo, NULL), 0);
		assert_int_equal(engine_change_add(f->e, "install", "...", spec, 5, &id), 0);
		assert_int_equal(tasks_of(f->e, id, t, 5), 5);
		if (abort_chg)
			assert_int_equal(engine_abort(f->e, id), 0);
		assert_int_equal(engine_start(f->e), 0);
		assert_int_equal(engine_settle(f->e, 20000, NULL, NULL), 0);
		for (size_t i = 0; i < trace.n; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
				 trace.ev[i]);
		if (strcmp(got, table[row].result) != 0)
			fail_msg("setup \"%s\": calls \"%s\", want \"%s\"", table[row].setup, got,
				 table[row].result);

		/* Final statuses, computed as snapd's test does. */
		for (size_t k = 0; k < n; k++) {
			const char *w = it[k].what;
			for (size_t i = 0; i < 5; i++) {
				if (strcmp(it[k].name, names[i]) != 0 || strncmp(w, "was-", 4) != 0)
					continue;
				w += 4;
				if (!strcmp(w, "do") || !strcmp(w, "doing") || !strcmp(w, "done"))
					want[i] = ENGINE_DONE;
				else
					want[i] = i == 1 ? ENGINE_DONE : ENGINE_UNDONE;
			}
		}
		if (abort_chg && strstr(table[row].setup, "t12:was-doing"))
			want[1] = ENGINE_HOLD;
		for (size_t k = 0; k < trace.n; k++) {
			const char *lbl = strchr(trace.ev[k], ':') + 1;
			size_t i = 0;
			while (strncmp(trace.ev[k], names[i], 3) != 0)
				i++;
			if (!strcmp(lbl, "do"))
				want[i] = ENGINE_DONE;
			else if (!strcmp(lbl, "undo"))
				want[i] = ENGINE_UNDONE;
			else if (!strcmp(lbl, "do-error") || !strcmp(lbl, "undo-error"))
				want[i] = ENGINE_ERROR;
			else if (!strcmp(lbl, "do-retry") && i == 1 && want[0] == ENGINE_ERROR)
				want[1] = ENGINE_HOLD;
		}
		for (size_t i = 0; i < 5; i++)
			if (task_status(f->e, t[i]) != want[i])
				fail_msg("setup \"%s\": %s is %s, want %s", table[row].setup, names[i],
					 engine_status_name(task_status(f->e, t[i])),
					 engine_status_name(want[i]));
		engine_close(f->e);
		f->e = NULL;
	}
}

/* ---- A35, abort of a running task -------------------------------------------------------- */

static int blocking_undo(struct engine_run *run, void *ud)
{
	(void)run, (void)ud;
	atomic_fetch_add(&gate.undo_calls, 1);
	gate_handler_step(1, 1);
	return 0;
}

static int ok_do(struct engine_run *run, void *ud)
{
	(void)run, (void)ud;
	atomic_fetch_add(&gate.calls, 1);
	return 0;
}

static int fail_do(struct engine_run *run, void *ud)
{
	(void)ud;
	return engine_run_fail(run, -EIO, "it broke");
}

static void test_premature_ready(void **state)
{
	struct fx *f = *state;
	static const size_t w[] = {0};
	struct engine_task_spec spec[2] = {
		{.kind = "ok", .summary = "first"},
		{.kind = "bad", .summary = "second", .wait_for = w, .n_wait = 1},
	};
	struct engine_change_info *ci;
	int64_t id;

	gate_reset();
	open_engine(f, 2, false);
	assert_int_equal(engine_add_handler(f->e, "ok", ok_do, blocking_undo, NULL), 0);
	assert_int_equal(engine_add_handler(f->e, "bad", fail_do, NULL, NULL), 0);
	assert_int_equal(engine_change_add(f->e, "install", "...", spec, 2, &id), 0);
	assert_int_equal(engine_start(f->e), 0);
	gate_wait_step(1); /* the undo of "first" runs */
	ci = change(f->e, id);
	assert_false(ci->ready);
	assert_int_equal(ci->status, ENGINE_UNDOING);
	assert_null(ci->err);
	engine_change_info_free(ci);
	assert_int_equal(engine_settle(f->e, 50, NULL, NULL), -ETIMEDOUT);
	gate_go(1);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	ci = change(f->e, id);
	assert_true(ci->ready);
	assert_int_equal(ci->status, ENGINE_ERROR);
	assert_string_equal(ci->err, "cannot perform the following tasks:\n- second (it broke)");
	engine_change_info_free(ci);
}

static int stoppable_do(struct engine_run *run, void *ud)
{
	struct pollfd p = {.fd = engine_run_stop_fd(run), .events = POLLIN};

	(void)ud;
	atomic_fetch_add(&gate.calls, 1);
	assert_true(p.fd >= 0);
	assert_false(engine_run_stopping(run));
	gate_handler_step(1, 0);
	assert_int_equal(poll(&p, 1, 10000), 1); /* the stop notification */
	assert_true(engine_run_stopping(run));
	return 0;
}

static int counting_undo(struct engine_run *run, void *ud)
{
	(void)run, (void)ud;
	atomic_fetch_add(&gate.undo_calls, 1);
	return 0;
}

static void test_abort_running(void **state)
{
	struct fx *f = *state;
	static const size_t w[] = {0};
	struct engine_task_spec spec[2] = {
		{.kind = "long", .summary = "long"},
		{.kind = "long", .summary = "later", .wait_for = w, .n_wait = 1},
	};
	struct engine_change_info *ci;
	int64_t id, t[2];

	gate_reset();
	open_engine(f, 2, false);
	assert_int_equal(engine_add_handler(f->e, "long", stoppable_do, counting_undo, NULL), 0);
	assert_int_equal(engine_change_add(f->e, "install", "...", spec, 2, &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	assert_int_equal(engine_start(f->e), 0);
	gate_wait_step(1);
	assert_int_equal(engine_abort(f->e, id), 0);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	/* It returned nil after the stop: "it was actually done", so it is undone (A30). */
	assert_int_equal(task_status(f->e, t[0]), ENGINE_UNDONE);
	assert_int_equal(task_status(f->e, t[1]), ENGINE_HOLD);
	assert_int_equal(atomic_load(&gate.calls), 1);
	assert_int_equal(atomic_load(&gate.undo_calls), 1);
	ci = change(f->e, id);
	assert_int_equal(ci->status, ENGINE_UNDONE);
	assert_null(ci->err);
	engine_change_info_free(ci);
}

/* ---- A28, A29: handlers ------------------------------------------------------------------- */

static void test_handlers(void **state)
{
	struct fx *f = *state;
	struct engine_task_spec spec[2] = {
		{.kind = "mine", .summary = "a"},
		{.kind = "theirs", .summary = "b"},
	};
	int64_t id, t[2];

	gate_reset();
	open_engine(f, 1, false);
	assert_int_equal(engine_add_handler(f->e, "mine", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_add_handler(f->e, "mine", ok_do, NULL, NULL), -EEXIST);
	assert_int_equal(engine_add_handler(f->e, "", ok_do, NULL, NULL), -EINVAL);
	assert_int_equal(engine_add_handler(f->e, "x", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(engine_change_add(f->e, "k", "s", spec, 2, &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_start(f->e), -EBUSY);
	assert_int_equal(engine_add_handler(f->e, "late", ok_do, NULL, NULL), -EBUSY);
	/*
	 * A kind without a handler is left alone ("handled by a different
	 * runner"), and settle does not wait for it: it waits for what this
	 * runner runs.
	 */
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DONE);
	assert_int_equal(task_status(f->e, t[1]), ENGINE_DO);
	assert_int_equal(atomic_load(&gate.calls), 1);
}

/* A task waits for all its prerequisites to be Done, and undo goes in reverse order. */
static int order_do(struct engine_run *run, void *ud)
{
	(void)ud;
	trace_add(engine_run_summary(run), "do");
	return strcmp(engine_run_summary(run), "t41") == 0 ? engine_run_fail(run, -EIO, "no") : 0;
}

/* The task ids of the order test, for its undo handler's checks. */
static int64_t order_ids[4];
static atomic_int order_violations;

static int order_undo(struct engine_run *run, void *ud)
{
	struct fx *f = ud;

	trace_add(engine_run_summary(run), "undo");
	/* Every dependent is ready before a task is undone (A29f). */
	for (size_t i = 0; i < 4; i++) {
		if (order_ids[i] != engine_run_task_id(run))
			continue;
		for (size_t k = i + 1; k < 4; k++)
			if (!engine_status_ready(task_status(f->e, order_ids[k])))
				atomic_fetch_add(&order_violations, 1);
	}
	return 0;
}

static void test_order_and_undo(void **state)
{
	/* t11 -> t21 -> t31 -> t41 (fails); the lane-less change is undone t31, t21, t11. */
	struct fx *f = *state;
	static const size_t w0[] = {0}, w1[] = {1}, w2[] = {2};
	struct engine_task_spec spec[4] = {
		{.kind = "o", .summary = "t11"},
		{.kind = "o", .summary = "t21", .wait_for = w0, .n_wait = 1},
		{.kind = "o", .summary = "t31", .wait_for = w1, .n_wait = 1},
		{.kind = "o", .summary = "t41", .wait_for = w2, .n_wait = 1},
	};
	char got[256] = "";
	int64_t id;

	trace.n = 0;
	open_engine(f, 4, false);
	assert_int_equal(engine_add_handler(f->e, "o", order_do, order_undo, f), 0);
	assert_int_equal(engine_change_add(f->e, "k", "s", spec, 4, &id), 0);
	assert_int_equal(tasks_of(f->e, id, order_ids, 4), 4);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	for (size_t i = 0; i < trace.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 trace.ev[i]);
	assert_string_equal(got, "t11:do t21:do t31:do t41:do t31:undo t21:undo t11:undo");
	assert_int_equal(atomic_load(&order_violations), 0);
	assert_int_equal(change_status(f->e, id), ENGINE_ERROR);
}

/* ---- persistence ------------------------------------------------------------------------- */

static int eintr_do(struct engine_run *run, void *ud)
{
	(void)ud;
	atomic_fetch_add(&gate.calls, 1);
	gate_handler_step(1, 0);
	engine_run_wait_stop(run, 10000);
	return -EINTR; /* while the engine closes: counted as a retry */
}

static void test_close_while_doing(void **state)
{
	struct fx *f = *state;
	static const size_t w[] = {0};
	struct engine_task_spec spec[2] = {
		{.kind = "x", .summary = "first"},
		{.kind = "x", .summary = "second", .wait_for = w, .n_wait = 1},
	};
	int64_t id, t[2];

	gate_reset();
	open_engine(f, 1, false);
	assert_int_equal(engine_add_handler(f->e, "x", eintr_do, NULL, NULL), 0);
	assert_int_equal(engine_change_add(f->e, "k", "s", spec, 2, &id), 0);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	assert_int_equal(engine_start(f->e), 0);
	gate_wait_step(1);
	close_all(f);

	gate_reset();
	open_db(f);
	open_engine(f, 1, false);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DOING);
	assert_int_equal(task_status(f->e, t[1]), ENGINE_DO);
	assert_int_equal(engine_add_handler(f->e, "x", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DONE);
	assert_int_equal(change_status(f->e, id), ENGINE_DONE);
}

static int crash_pipe = -1;

static int hang_do(struct engine_run *run, void *ud)
{
	(void)run, (void)ud;
	if (write(crash_pipe, "x", 1) != 1)
		_exit(3);
	for (;;)
		pause();
	return 0;
}

static void test_crash_kill9(void **state)
{
	struct fx *f = *state;
	static const size_t w[] = {0};
	struct engine_task_spec spec[2] = {
		{.kind = "x", .summary = "first", .data = "{\"step\":1}"},
		{.kind = "x", .summary = "second", .wait_for = w, .n_wait = 1},
	};
	struct engine_task_info *ti;
	int fds[2], status;
	int64_t id, t[2];
	pid_t pid;
	char c;

	db_close(f->db); /* the child has the database alone */
	f->db = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct engine *e;
		struct db *db;
		char err[256];

		close(fds[0]);
		crash_pipe = fds[1];
		if (db_open(f->path, false, &engine_only, &db, err, sizeof(err)) < 0 ||
		    engine_open(db, NULL, &e) < 0 ||
		    engine_add_handler(e, "x", hang_do, NULL, NULL) < 0 ||
		    engine_change_add(e, "k", "s", spec, 2, &id) < 0 || engine_start(e) < 0)
			_exit(2);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	gate_reset();
	open_db(f);
	open_engine(f, 2, false);
	assert_int_equal(tasks_of(f->e, 1, t, 2), 2);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DOING); /* committed before the handler ran */
	assert_int_equal(task_status(f->e, t[1]), ENGINE_DO);
	assert_int_equal(engine_task_get(f->e, t[0], &ti), 0); /* A22: the data persists */
	assert_string_equal(ti->data, "{\"step\":1}");
	engine_task_info_free(ti);
	assert_int_equal(engine_add_handler(f->e, "x", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_int_equal(task_status(f->e, t[0]), ENGINE_DONE);
	assert_int_equal(task_status(f->e, t[1]), ENGINE_DONE);
}

/* ---- prune and ids ------------------------------------------------------------------------ */

static void record_many(struct fx *f, size_t n, int64_t first_ms)
{
	struct engine_task_spec spec = {.kind = "publish", .summary = "Store", .status = ENGINE_DONE};

	assert_int_equal(db_write_begin(f->db), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(engine_record_tx(f->db, "publish", "p", first_ms + (int64_t)i, &spec,
						  1, NULL),
				 0);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	int64_t *ids, unready[3], last, fresh;
	size_t n, pruned;
	const int64_t day = 86400000;

	open_engine(f, 1, true);
	for (size_t i = 0; i < 3; i++)
		unready[i] = add_plain(f->e, "nobody", 1, ENGINE_DO);
	/* 510 ready changes, readied one ms apart, long ago. */
	record_many(f, ENGINE_READY_MAX + 10, f->now - 10 * day);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, ENGINE_READY_MAX + 13);
	last = ids[n - 1];
	free(ids);

	/* Nothing is old enough: only the 10 oldest ready ones go, beyond 500. */
	assert_int_equal(engine_prune(f->e, f->now, 100 * day, &pruned), 0);
	assert_int_equal(pruned, 10);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, ENGINE_READY_MAX + 3);
	assert_int_equal(ids[0], unready[0]);
	assert_int_equal(ids[3], unready[2] + 11); /* the 11th recorded is the oldest kept */
	free(ids);

	/* All ready ones are older than a day; unready ones stay whatever their age. */
	f->now += 30 * day;
	assert_int_equal(engine_prune(f->e, f->now, day, &pruned), 0);
	assert_int_equal(pruned, ENGINE_READY_MAX);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ids[i], unready[i]);
	free(ids);

	/* Ids are never reused, even after a prune and a reopen. */
	close_all(f);
	open_db(f);
	open_engine(f, 1, true);
	fresh = add_plain(f->e, "nobody", 1, ENGINE_DO);
	assert_true(fresh > last);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, 4);
	free(ids);
	assert_int_equal(engine_prune(f->e, f->now + 100 * day, 0, &pruned), 0);
	assert_int_equal(pruned, 0);
}

/* ---- records inside a caller's transaction ---------------------------------------------------- */

static void test_record_tx(void **state)
{
	struct fx *f = *state;
	static const char *const errs[] = {"metadata.yaml: missing name", NULL};
	static const char *const info[] = {"read 3 entries", NULL};
	struct engine_task_spec ok[3] = {
		{.kind = "validate", .summary = "Validate", .status = ENGINE_DONE, .log = info},
		{.kind = "store", .summary = "Store", .status = ENGINE_DONE},
		{.kind = "extract", .summary = "Extract tree", .status = ENGINE_DONE},
	};
	struct engine_task_spec bad[3] = {
		{.kind = "validate", .summary = "Validate", .status = ENGINE_ERROR, .errors = errs},
		{.kind = "store", .summary = "Store", .status = ENGINE_HOLD},
		{.kind = "extract", .summary = "Extract tree", .status = ENGINE_HOLD},
	};
	struct engine_task_spec unready = {.kind = "x", .summary = "", .status = ENGINE_DOING};
	struct engine_change_info *ci;
	struct engine_task_info *ti;
	int64_t id1, id2, gone, *ids, t[3];
	uint64_t gen;
	size_t n;

	open_engine(f, 1, true);
	gen = engine_generation(f->e);
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "Publish cs:trusty/wp", f->now, ok, 3,
					  &id1),
			 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "x", f->now, &unready, 1, NULL), -EINVAL);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "rolled back", f->now, ok, 3, &gone), 0);
	assert_int_equal(db_write_end(f->db, -EIO), -EIO);
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "Publish cs:trusty/bad", f->now, bad, 3,
					  &id2),
			 0);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);

	assert_true(engine_generation(f->e) != gen);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], id1);
	assert_int_equal(ids[1], id2);
	free(ids);
	ci = change(f->e, id1);
	assert_string_equal(ci->kind, "publish");
	assert_string_equal(ci->summary, "Publish cs:trusty/wp");
	assert_int_equal(ci->status, ENGINE_DONE);
	assert_true(ci->ready);
	assert_int_equal(ci->ready_ms, f->now);
	assert_int_equal(ci->n_tasks, 3);
	engine_change_info_free(ci);
	assert_int_equal(tasks_of(f->e, id1, t, 3), 3);
	assert_int_equal(engine_task_get(f->e, t[0], &ti), 0);
	assert_string_equal(ti->summary, "Validate");
	assert_int_equal(ti->n_log, 1);
	assert_string_equal(ti->log[0], "2023-11-14T22:13:20Z INFO read 3 entries");
	assert_int_equal(ti->progress_done, 1);
	engine_task_info_free(ti);
	ci = change(f->e, id2);
	assert_int_equal(ci->status, ENGINE_ERROR);
	assert_string_equal(ci->err, "cannot perform the following tasks:\n"
				     "- Validate (metadata.yaml: missing name)");
	engine_change_info_free(ci);
	assert_int_equal(engine_settle(f->e, 0, NULL, NULL), 0);
	assert_int_equal(engine_change_get(f->e, id2 + 1, &ci), -ENOENT);
}

/* Work still to do, recorded in a caller's transaction: it runs once the runner notices it. */
static void test_record_tx_do(void **state)
{
	struct fx *f = *state;
	static const size_t after0 = 0;
	struct engine_task_spec v[2] = {
		{.kind = "validate", .summary = "Validate", .status = ENGINE_DONE},
		{.kind = "x", .summary = "Extract", .data = "abc", .wait_for = &after0, .n_wait = 1},
	};
	int64_t id, early, t[2];

	gate_reset();
	/* Recorded before the start: the start runs it. */
	open_engine(f, 2, false);
	assert_int_equal(engine_add_handler(f->e, "x", ok_do, NULL, NULL), 0);
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "p", engine_now_ms(), v, 2, &early), 0);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);
	assert_int_equal(change_status(f->e, early), ENGINE_DO);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle_kind(f->e, "x", 10000, NULL, NULL), 0);
	assert_int_equal(change_status(f->e, early), ENGINE_DONE);
	assert_int_equal(atomic_load(&gate.calls), 1);

	/* Recorded while running: engine_notice() alone gets it run (no settle, no read). */
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "p", engine_now_ms(), v, 2, &id), 0);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);
	for (int i = 0; i < 1000 && atomic_load(&gate.calls) < 2; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(tasks_of(f->e, id, t, 2), 2);
	assert_int_equal(task_status(f->e, t[1]), ENGINE_DONE);
	assert_int_equal(change_status(f->e, id), ENGINE_DONE);

	/* A rolled-back record runs nothing; a Do task of a kind nobody handles stays Do. */
	v[1].kind = "nobody";
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "p", engine_now_ms(), v, 2, &id), 0);
	assert_int_equal(db_write_end(f->db, -EIO), -EIO);
	assert_int_equal(db_write_begin(f->db), 0);
	assert_int_equal(engine_record_tx(f->db, "publish", "p", engine_now_ms(), v, 2, &id), 0);
	assert_int_equal(db_write_end(f->db, 0), 0);
	engine_notice(f->e);
	assert_int_equal(engine_settle_kind(f->e, "x", 10000, NULL, NULL), 0);
	assert_int_equal(engine_settle_kind(f->e, "nobody", 50, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_int_equal(change_status(f->e, id), ENGINE_DO);
	assert_int_equal(atomic_load(&gate.calls), 2);
}

static size_t n_changes(struct engine *e)
{
	int64_t *ids;
	size_t n;

	assert_int_equal(engine_change_ids(e, &ids, &n), 0);
	free(ids);
	return n;
}

/* Waits (up to 10 s, on the generation) until the engine holds n changes. */
static void wait_changes(struct engine *e, size_t n)
{
	uint64_t gen = engine_generation(e);

	for (int i = 0; i < 200 && n_changes(e) != n; i++) {
		int r = engine_wait(e, gen, 50, NULL, NULL, &gen);
		assert_true(r == 0 || r == -ETIMEDOUT);
	}
	assert_int_equal(n_changes(e), n);
}

/* The runner prunes by itself (opts.prune_age_ms): count, age, and never what is unready. */
static void test_autoprune(void **state)
{
	struct fx *f = *state;
	const int64_t day = 86400000;
	struct engine_opts o;
	int64_t unready, fresh, *ids;
	size_t n;

	gate_reset();
	engine_opts_default(&o);
	assert_int_equal(o.prune_age_ms, -1); /* off unless asked for */
	o.clock = fake_clock;
	o.clock_ud = f;
	o.prune_age_ms = day;
	assert_int_equal(engine_open(f->db, &o, &f->e), 0);
	assert_int_equal(engine_add_handler(f->e, "x", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	unready = add_plain(f->e, "nobody", 1, ENGINE_DO);
	/* 600 ready changes, recorded in one transaction: after the notice, 500 are kept. */
	record_many(f, 600, f->now - 1000);
	engine_notice(f->e);
	wait_changes(f->e, ENGINE_READY_MAX + 1);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(ids[0], unready);
	assert_int_equal(ids[1], unready + 101); /* the 100 oldest ready ones went */
	free(ids);
	/* A change becoming ready in the runner prunes the oldest ready one. */
	fresh = add_plain(f->e, "x", 1, ENGINE_DO);
	assert_int_equal(engine_settle_kind(f->e, "x", 10000, NULL, NULL), 0);
	assert_int_equal(n_changes(f->e), ENGINE_READY_MAX + 1);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(ids[0], unready);
	assert_int_equal(ids[1], unready + 102);
	assert_int_equal(ids[n - 1], fresh);
	free(ids);
	/* A day later all ready ones are too old; the unready one stays whatever its age. */
	__atomic_store_n(&f->now, f->now + 2 * day, __ATOMIC_SEQ_CST);
	engine_notice(f->e);
	wait_changes(f->e, 1);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(ids[0], unready);
	free(ids);
	engine_close(f->e);

	/* On the real clock the idle timer prunes when the oldest ready change comes of age. */
	engine_opts_default(&o);
	o.prune_age_ms = 300;
	assert_int_equal(engine_open(f->db, &o, &f->e), 0);
	assert_int_equal(engine_start(f->e), 0);
	record_many(f, 3, engine_now_ms());
	engine_notice(f->e);
	assert_int_equal(n_changes(f->e), 4);
	wait_changes(f->e, 1);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(ids[0], unready);
	free(ids);
}

/* Ready changes in the database (not the cache). */
static int64_t db_ready_changes(struct fx *f)
{
	sqlite3_stmt *st = db_prep(f->db, "SELECT count(*) FROM engine_changes WHERE ready_ms > 0");
	int64_t n;

	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	db_reset(st);
	return n;
}

/*
 * The runner's prune goes into the commit that makes a change ready: with
 * ENGINE_READY_MAX ready changes, a stream of changes run to Done leaves
 * exactly the newest ENGINE_READY_MAX in the database as in the cache, the
 * unready one kept.
 */
static void test_autoprune_folded(void **state)
{
	struct fx *f = *state;
	int64_t unready, first, last = 0, *ids;
	struct engine_opts o;
	size_t n;

	gate_reset();
	engine_opts_default(&o);
	o.clock = fake_clock;
	o.clock_ud = f;
	o.prune_age_ms = 86400000;
	assert_int_equal(engine_open(f->db, &o, &f->e), 0);
	assert_int_equal(engine_add_handler(f->e, "x", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	unready = add_plain(f->e, "nobody", 1, ENGINE_DO);
	record_many(f, ENGINE_READY_MAX, f->now - 1000);
	engine_notice(f->e);
	wait_changes(f->e, ENGINE_READY_MAX + 1);
	assert_int_equal(db_ready_changes(f), ENGINE_READY_MAX);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	first = ids[1];
	free(ids);
	for (int i = 0; i < 20; i++)
		last = add_plain(f->e, "x", 2, ENGINE_DO);
	assert_int_equal(engine_settle_kind(f->e, "x", 10000, NULL, NULL), 0);
	assert_int_equal(engine_settle_kind(f->e, "x", 10000, NULL, NULL), 0);
	assert_int_equal(n_changes(f->e), ENGINE_READY_MAX + 1);
	assert_int_equal(db_ready_changes(f), ENGINE_READY_MAX);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(ids[0], unready);
	assert_int_equal(ids[1], first + 20);
	assert_int_equal(ids[n - 1], last);
	free(ids);
}

/* ---- settle and wait ---------------------------------------------------------------------- */

static atomic_bool interrupted_flag;
static atomic_int interrupt_checks;

static bool interrupted(void *ud)
{
	(void)ud;
	atomic_fetch_add(&interrupt_checks, 1);
	return atomic_load(&interrupted_flag);
}

struct waker {
	struct engine *e;
	int64_t at;
	bool wake;
	long checks_before;
};

static void *waker_main(void *p)
{
	struct waker *w = p;

	/* Once settle has looked at the flag, and waits. */
	while (atomic_load(&interrupt_checks) == w->checks_before)
		usleep(1000);
	usleep(5000);
	w->at = mono_ms();
	atomic_store(&interrupted_flag, true);
	if (w->wake)
		engine_wake(w->e);
	return NULL;
}

static int64_t finished_at;

static int gated_do(struct engine_run *run, void *ud)
{
	(void)run, (void)ud;
	gate_handler_step(1, 1);
	finished_at = mono_ms();
	return 0;
}

static void test_settle(void **state)
{
	struct fx *f = *state;
	struct waker w;
	pthread_t th;
	int64_t t0, t1;
	int r;

	gate_reset();
	open_engine(f, 1, false);
	assert_int_equal(engine_add_handler(f->e, "g", gated_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle(f->e, 0, NULL, NULL), 0); /* nothing in progress */
	(void)add_plain(f->e, "g", 1, ENGINE_DO);
	gate_wait_step(1);

	t0 = mono_ms();
	assert_int_equal(engine_settle(f->e, 100, NULL, NULL), -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 100);

	/* EINTR at once, through engine_wake() (well before the poll interval). */
	atomic_store(&interrupted_flag, false);
	w = (struct waker){.e = f->e, .wake = true, .checks_before = atomic_load(&interrupt_checks)};
	assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
	r = engine_settle(f->e, 10000, interrupted, NULL);
	t1 = mono_ms();
	pthread_join(th, NULL);
	/* The next poll would come ~ENGINE_POLL_MS after the flag; the wake ends it at once. */
	assert_int_equal(r, -EINTR);
	assert_true(t1 - w.at < ENGINE_POLL_MS * 3 / 4);

	/* Without a wake the interrupt is still seen within the poll interval. */
	atomic_store(&interrupted_flag, false);
	w = (struct waker){.e = f->e, .wake = false, .checks_before = atomic_load(&interrupt_checks)};
	assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
	r = engine_settle(f->e, 10000, interrupted, NULL);
	t1 = mono_ms();
	pthread_join(th, NULL);
	/* (Not seen at all, it would wait out its 10 s.) */
	assert_int_equal(r, -EINTR);
	assert_true(t1 - w.at < 5000);

	/* Already interrupted: EINTR without waiting. */
	assert_int_equal(engine_settle(f->e, 10000, interrupted, NULL), -EINTR);

	/* Settle returns promptly once the last task is done. */
	gate_go(1);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
	assert_true(mono_ms() - finished_at < 5000); /* woken: not at its 10 s timeout */
}

static int logging_do(struct engine_run *run, void *ud)
{
	(void)ud;
	gate_handler_step(1, 1);
	assert_int_equal(engine_run_logf(run, false, "hello"), 0);
	gate_handler_step(2, 2);
	return 0;
}

static void test_wait_generation(void **state)
{
	struct fx *f = *state;
	struct engine_task_info *ti;
	uint64_t g, g2;
	int64_t id, t;

	gate_reset();
	open_engine(f, 1, false);
	assert_int_equal(engine_add_handler(f->e, "l", logging_do, NULL, NULL), 0);
	assert_int_equal(engine_start(f->e), 0);
	id = add_plain(f->e, "l", 1, ENGINE_DO);
	assert_int_equal(tasks_of(f->e, id, &t, 1), 1);
	gate_wait_step(1);
	g = engine_generation(f->e);
	assert_int_equal(engine_wait(f->e, g, 30, NULL, NULL, &g2), -ETIMEDOUT);
	gate_go(1);
	assert_int_equal(engine_wait(f->e, g, 10000, NULL, NULL, &g2), 0); /* the log grew */
	assert_true(g2 != g);
	assert_int_equal(engine_task_get(f->e, t, &ti), 0);
	assert_int_equal(ti->n_log, 1);
	assert_non_null(strstr(ti->log[0], " INFO hello"));
	engine_task_info_free(ti);
	gate_go(2);
	assert_int_equal(engine_settle(f->e, 10000, NULL, NULL), 0);
}

/* ---- bounded concurrency -------------------------------------------------------------------- */

static atomic_int running, max_running;

static int busy_do(struct engine_run *run, void *ud)
{
	int now = atomic_fetch_add(&running, 1) + 1;
	int64_t end = mono_ms() + 2000;

	(void)run, (void)ud;
	for (int m = atomic_load(&max_running); now > m;)
		if (atomic_compare_exchange_weak(&max_running, &m, now))
			break;
	while (atomic_load(&max_running) < 3 && mono_ms() < end)
		usleep(1000);
	usleep(5000);
	atomic_fetch_sub(&running, 1);
	return 0;
}

static void test_bounded_concurrency(void **state)
{
	struct fx *f = *state;
	int64_t id, t[9];

	atomic_store(&running, 0);
	atomic_store(&max_running, 0);
	open_engine(f, 3, false);
	assert_int_equal(engine_add_handler(f->e, "b", busy_do, NULL, NULL), 0);
	id = add_plain(f->e, "b", 9, ENGINE_DO);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_settle(f->e, 20000, NULL, NULL), 0);
	assert_int_equal(atomic_load(&max_running), 3);
	assert_int_equal(tasks_of(f->e, id, t, 9), 9);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(task_status(f->e, t[i]), ENGINE_DONE);
}

/* ---- recurring work ------------------------------------------------------------------------ */

static int again_do(struct engine_run *run, void *ud)
{
	(void)ud;
	return engine_run_retry(run, 20);
}

/*
 * settle does not wait for recurring work (SPEC §4.8) nor for kinds without
 * a handler (snapd); settle_kind of the recurring kind does.
 */
static void test_recurring(void **state)
{
	struct fx *f = *state;

	open_engine(f, 2, false);
	assert_int_equal(engine_add_handler(f->e, "again", again_do, NULL, NULL), 0);
	assert_int_equal(engine_add_handler(f->e, "ok", ok_do, NULL, NULL), 0);
	assert_int_equal(engine_set_recurring(f->e, "nosuchkind"), -ENOENT);
	assert_int_equal(engine_set_recurring(f->e, "again"), 0);
	(void)add_plain(f->e, "again", 1, ENGINE_DO);
	(void)add_plain(f->e, "ok", 2, ENGINE_DO);
	assert_int_equal(engine_start(f->e), 0);
	assert_int_equal(engine_set_recurring(f->e, "ok"), -EBUSY);
	assert_int_equal(engine_settle(f->e, 20000, NULL, NULL), 0);
	assert_int_equal(engine_settle_kind(f->e, "again", 100, NULL, NULL), -ETIMEDOUT);
	/* Nor for tasks of a kind that nobody here handles. */
	(void)add_plain(f->e, "nobody", 2, ENGINE_DO);
	assert_int_equal(engine_settle(f->e, 20000, NULL, NULL), 0);
	/* Recurring work beside work in progress: settle waits for the latter. */
	(void)add_plain(f->e, "ok", 1, ENGINE_DO);
	assert_int_equal(engine_settle(f->e, 20000, NULL, NULL), 0);
}

/* ---- reads over many changes ------------------------------------------------------------------ */

/*
 * 1,000 ready changes and 100 in progress: the listing and both kinds of
 * status read right (how fast is tests/bench/engine.sh's business).
 */
static void test_read_many(void **state)
{
	struct fx *f = *state;
	struct engine_change_info *ci;
	int64_t *ids;
	size_t n;

	open_engine(f, 1, false);
	record_many(f, 1000, engine_now_ms());
	for (int i = 0; i < 100; i++)
		(void)add_plain(f->e, "nobody", 3, ENGINE_DO);
	assert_int_equal(engine_change_ids(f->e, &ids, &n), 0);
	assert_int_equal(n, 1100);
	for (size_t i = 1; i < n; i++)
		assert_true(ids[i] > ids[i - 1]);
	ci = change(f->e, ids[0]);
	assert_int_equal(ci->status, ENGINE_DONE);
	engine_change_info_free(ci);
	ci = change(f->e, ids[n - 1]);
	assert_int_equal(ci->status, ENGINE_DO);
	engine_change_info_free(ci);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_ready),
		cmocka_unit_test_setup_teardown(test_status_default_is_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_derived, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_ready_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_for_and_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_lanes_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_premature_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handlers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_undo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_while_doing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_tx_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autoprune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autoprune_folded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recurring, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
