/*
 * Load program for tests/bench/engine.sh: the change engine's throughput
 * and settle latency through the store's own code (store_open(),
 * store_engine(), store_start(): the daemon's engine, with its default
 * options and prune), against the same work done as plain SQLite
 * transactions through the db layer. Not part of the build; engine.sh
 * compiles it against a non-sanitizer libcharmfs.a.
 *
 *   engine_load STOREDIR engine N    N changes of 3 no-op tasks, added from one
 *                                    thread, then engine_settle(): changes/s
 *   engine_load STOREDIR floor N     per change, the transactions the engine
 *                                    commits for it (5, see below), done directly
 *   engine_load STOREDIR floor1 N    per change, one transaction with all of it
 *   engine_load STOREDIR settle N    N times: a change of one no-op task, and
 *                                    the time from its handler's return to
 *                                    engine_settle()'s return (median, p99, max)
 *
 * A change of 3 independent tasks costs the engine 5 commits: the insert
 * of the change and its tasks (engine_change_add()), the three moves to
 * Doing (one flush of the scheduling pass), and one Done per task as each
 * worker finishes (the last also writes the change's ready time). The
 * floor does the same statements in the same 5 transactions, on the same
 * tables, one change after the other from one thread.
 *
 * Prints one line: "MODE N SECONDS RATE" (changes per second), or for
 * settle "settle N MEDIAN_US P99_US MAX_US". STOREDIR must not exist.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "engine.h"
#include "store.h"
#include "store_int.h"

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "engine_load: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static _Atomic int64_t last_return_ns;

static int noop(struct engine_run *run, void *ud)
{
	(void)run;
	(void)ud;
	atomic_store(&last_return_ns, mono_ns());
	return 0;
}

static const struct engine_task_spec three[] = {
	{ .kind = "noop", .summary = "No-op 1" },
	{ .kind = "noop", .summary = "No-op 2" },
	{ .kind = "noop", .summary = "No-op 3" },
};

static void run_engine(struct store *s, long n)
{
	struct engine *e = store_engine(s);
	int64_t t0;
	int r;

	t0 = mono_ns();
	for (long i = 0; i < n; i++) {
		r = engine_change_add(e, "bench", "Three no-ops", three, 3, NULL);
		if (r < 0)
			die("engine_change_add", r);
	}
	r = engine_settle(e, -1, NULL, NULL);
	if (r < 0)
		die("engine_settle", r);
	double sec = (double)(mono_ns() - t0) / 1e9;
	printf("engine %ld %.3f %.0f\n", n, sec, (double)n / sec);
}

/* Runs sql with parameters a, b; the row id it inserted goes to ret_id (may be NULL). */
static int step(struct db *db, const char *sql, int64_t a, int64_t b, int64_t *ret_id)
{
	sqlite3_stmt *st = db_prep(db, sql);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* The statements of one change in the engine's tables: in 5 transactions (the engine's), or 1. */
static int floor_change(struct db *db, int64_t now, bool five)
{
	static const char ins_c[] = "INSERT INTO engine_changes(kind, summary, spawn_ms, ready_ms)"
				    " VALUES('bench', 'Three no-ops', ?, 0 * ?)";
	static const char ins_t[] = "INSERT INTO engine_tasks(change_id, seq, kind, summary,"
				    " status, lanes, log, spawn_ms, ready_ms)"
				    " VALUES(?, ?, 'noop', 'No-op', 2, '', '', 0, 0)";
	static const char doing[] = "UPDATE engine_tasks SET status = 3, ready_ms = 0, at_ms = 0"
				    " WHERE id = ? + 0 * ?";
	static const char done[] = "UPDATE engine_tasks SET status = 4, ready_ms = ?, at_ms = 0"
				   " WHERE id = ?";
	static const char ready[] = "UPDATE engine_changes SET ready_ms = ? WHERE id = ?";
	int64_t cid = 0, tid[3] = { 0 };
	int r = db_write_begin(db);

	if (r == 0)
		r = step(db, ins_c, now, 0, &cid);
	for (int i = 0; r == 0 && i < 3; i++)
		r = step(db, ins_t, cid, i, &tid[i]);
	if (five && r == 0) {
		r = db_write_end(db, 0);
		if (r == 0)
			r = db_write_begin(db);
	}
	for (int i = 0; r == 0 && i < 3; i++)
		r = step(db, doing, tid[i], 0, NULL);
	for (int i = 0; r == 0 && i < 3; i++) {
		if (five) {
			r = db_write_end(db, 0);
			if (r == 0)
				r = db_write_begin(db);
		}
		if (r == 0)
			r = step(db, done, now, tid[i], NULL);
	}
	if (r == 0)
		r = step(db, ready, now, cid, NULL);
	return db_write_end(db, r);
}

static void run_floor(struct store *s, long n, bool five)
{
	struct db *db = store_db(s);
	int64_t t0 = mono_ns();
	int r;

	for (long i = 0; i < n; i++) {
		r = floor_change(db, engine_now_ms(), five);
		if (r < 0)
			die("floor", r);
	}
	double sec = (double)(mono_ns() - t0) / 1e9;
	printf("%s %ld %.3f %.0f\n", five ? "floor" : "floor1", n, sec, (double)n / sec);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void run_settle(struct store *s, long n)
{
	struct engine *e = store_engine(s);
	int64_t *v = calloc((size_t)n, sizeof(*v));
	int r;

	if (!v)
		die("calloc", ENOMEM);
	for (long i = 0; i < n; i++) {
		r = engine_change_add(e, "bench", "One no-op", three, 1, NULL);
		if (r == 0)
			r = engine_settle(e, -1, NULL, NULL);
		if (r < 0)
			die("settle", r);
		v[i] = mono_ns() - atomic_load(&last_return_ns);
	}
	qsort(v, (size_t)n, sizeof(*v), cmp64);
	printf("settle %ld %.0f %.0f %.0f\n", n, v[n / 2] / 1e3, v[n * 99 / 100] / 1e3,
	       v[n - 1] / 1e3);
	free(v);
}

int main(int argc, char **argv)
{
	struct store_opts o;
	struct store *s;
	char err[512];
	const char *mode;
	long n;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: %s STOREDIR engine|floor|floor1|settle N\n", argv[0]);
		return 2;
	}
	mode = argv[2];
	n = strtol(argv[3], NULL, 10);
	if (n <= 0)
		return 2;
	store_opts_default(&o);
	r = store_open(argv[1], &o, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "engine_load: %s\n", err);
		return 1;
	}
	r = engine_add_handler(store_engine(s), "noop", noop, NULL, NULL);
	if (r == 0)
		r = store_start(s);
	if (r < 0)
		die("start", r);
	if (strcmp(mode, "engine") == 0)
		run_engine(s, n);
	else if (strcmp(mode, "floor") == 0)
		run_floor(s, n, true);
	else if (strcmp(mode, "floor1") == 0)
		run_floor(s, n, false);
	else if (strcmp(mode, "settle") == 0)
		run_settle(s, n);
	else
		return 2;
	store_close(s);
	return 0;
}
