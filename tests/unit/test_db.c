/*
 * Unit tests for the database layer (backend/db.c) on a real SQLite file:
 * a thread may prepare any number of distinct statements (the cache grows),
 * only a duplicate key maps to EEXIST, SQLite's message of a failed change
 * survives its ROLLBACK, a read inside a write transaction sees it, a
 * thread's own connection has a smaller page cache than the writer's, and
 * the numbered schema steps: each runs once, in order, in the transaction
 * that sets its version; a failed one leaves the version before it; a newer
 * version is refused untouched.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "db.h"
#include "util.h"

static char dir[64];

static const char *const test_schema[] = {
	"CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER CHECK (v >= 0))",
	NULL,
};
static const char *const *const test_sql[] = { test_schema, NULL };
static const struct db_step test_steps[] = { { .what = "t", .sql = test_sql } };
static const struct db_schema schema = { test_steps, 1 };

static struct db *open_db(void)
{
	char path[128], err[256];
	struct db *db = NULL;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(db_open(path, false, &schema, &db, err, sizeof(err)), 0);
	return db;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/charmfs-db-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rm_rf(dir), 0);
	return 0;
}

/* Runs one INSERT of (k, v) in its own transaction: 0 or -errno. */
static int insert(struct db *db, const char *k, long v)
{
	sqlite3_stmt *st;
	int r = db_write_begin(db);

	if (r < 0)
		return r;
	st = db_prep(db, "INSERT INTO t(k, v) VALUES(?1, ?2)");
	assert_non_null(st);
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return db_write_end(db, r);
}

static long long wal_size(void)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/t.db-wal", dir);
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/*
 * A steady writer, never pausing: the checkpointer (woken past 4,000 log
 * pages) must still complete a checkpoint, so that the log starts again
 * from its beginning and is cut back to 1 MiB. A checkpoint that only runs
 * beside the writer never catches up, and the log grows without end.
 */
static void test_log_bounded_under_steady_writes(void **state)
{
	struct db *db = open_db();
	char big[3000];
	long long max = 0;
	bool grew = false, cut = false;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (long i = 0; i < 60000 && !cut; i++) {
		sqlite3_stmt *st;
		assert_int_equal(db_write_begin(db), 0);
		st = db_prep(db, "INSERT OR REPLACE INTO t(k, v) VALUES(?1, ?2)");
		assert_non_null(st);
		/* 500 keys of 2.5-3 KiB: a page or two per commit. */
		sqlite3_bind_text(st, 1, big + i % 500, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, i);
		assert_int_equal(db_errno(sqlite3_step(st)), 0);
		db_reset(st);
		assert_int_equal(db_write_end(db, 0), 0);
		long long n = wal_size();
		if (n > max)
			max = n;
		if (n > 16 << 20)
			grew = true;
		else if (grew && n <= 2 << 20)
			cut = true;
	}
	print_message("log: largest %lld bytes, cut back: %s\n", max, cut ? "yes" : "no");
	assert_true(grew);
	assert_true(cut);
	db_close(db);
}

static void test_many_statements(void **state)
{
	struct db *db = open_db();
	enum { N = 300 };
	char *sql[N];

	/* Distinct SQL strings, each prepared twice: the second gets the cached statement. */
	for (int i = 0; i < N; i++) {
		assert_true(asprintf(&sql[i], "SELECT %d", i) > 0);
		sqlite3_stmt *st = db_prep(db, sql[i]);
		assert_non_null(st);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), i);
		db_reset(st);
	}
	for (int i = 0; i < N; i++) {
		sqlite3_stmt *st = db_prep(db, sql[i]);
		assert_non_null(st);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), i);
		db_reset(st);
	}
	db_close(db);
	for (int i = 0; i < N; i++)
		free(sql[i]);
}

static void test_constraints(void **state)
{
	struct db *db = open_db();

	assert_int_equal(insert(db, "a", 1), 0);
	/* A duplicate key is "exists"... */
	assert_int_equal(insert(db, "a", 2), -EEXIST);
	assert_non_null(strstr(db_errmsg(db), "UNIQUE"));
	/* ...another broken rule is not, and its message outlives the ROLLBACK. */
	assert_int_equal(insert(db, "b", -1), -EIO);
	assert_non_null(strstr(db_errmsg(db), "CHECK"));
	db_close(db);
}

static void test_read_in_write(void **state)
{
	struct db *db = open_db();
	sqlite3_stmt *st;
	bool started;

	assert_int_equal(insert(db, "x", 5), 0);
	assert_int_equal(db_write_begin(db), 0);
	assert_int_equal(db_exec(db, "UPDATE t SET v = 6 WHERE k = 'x'"), 0);
	/* A read snapshot asked for inside the transaction reads through it. */
	assert_int_equal(db_read_begin(db, &started), 0);
	assert_false(started);
	st = db_prep(db, "SELECT v FROM t WHERE k = 'x'");
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 6);
	db_reset(st);
	db_read_end(db, started);
	assert_int_equal(db_write_end(db, -ECANCELED), -ECANCELED);
	/* Outside, it starts its own, and sees the rolled-back value. */
	assert_int_equal(db_read_begin(db, &started), 0);
	assert_true(started);
	st = db_prep(db, "SELECT v FROM t WHERE k = 'x'");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5);
	db_reset(st);
	db_read_end(db, started);
	db_close(db);
}

/* PRAGMA cache_size on the connection the calling thread uses now. */
static int cache_size(struct db *db)
{
	sqlite3_stmt *st = db_prep(db, "PRAGMA cache_size");
	int v;

	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	db_reset(st);
	return v;
}

/* A thread's own connection keeps a small page cache; the writer's keeps SQLite's default. */
static void test_cache_sizes(void **state)
{
	struct db *db = open_db();
	int reader = cache_size(db), writer;

	assert_int_equal(db_write_begin(db), 0);
	writer = cache_size(db);
	assert_int_equal(db_write_end(db, 0), 0);
	/* Negative: KiB; the writer's is SQLite's build default (2,000 KiB in Debian's). */
	assert_true(reader < 0 && reader >= -512);
	assert_true(writer < reader);
	assert_int_equal(cache_size(db), reader);
	db_close(db);
}

/* ---- schema steps ------------------------------------------------------------- */

/* How often each step's C part ran, and which step's fails. */
static int fn_runs[4];
static int fail_fn_at;

static int count_fn(struct db *db, int step)
{
	fn_runs[step]++;
	if (step == fail_fn_at)
		return -ENOSPC;
	/* The step's own SQL ran before, in the same transaction. */
	return db_exec(db, step == 2 ? "INSERT INTO s2 VALUES(2)" : "SELECT 1");
}

static int fn1(struct db *db)
{
	return count_fn(db, 1);
}

static int fn2(struct db *db)
{
	return count_fn(db, 2);
}

static int fn3(struct db *db)
{
	return count_fn(db, 3);
}

static const char *const s1_a[] = { "CREATE TABLE s1(a)", NULL };
static const char *const s1_b[] = { "CREATE TABLE s1b(b)", "INSERT INTO s1b VALUES(1)", NULL };
static const char *const *const s1[] = { s1_a, s1_b, NULL };
static const char *const s2_a[] = { "CREATE TABLE s2(a)", NULL };
static const char *const *const s2[] = { s2_a, NULL };
static const char *const s3_a[] = { "CREATE TABLE s3(a)", NULL };
static const char *const s3_bad[] = { "CREATE TABLE s3(a)", "INSERT INTO nosuch VALUES(1)", NULL };
static const char *const *const s3[] = { s3_a, NULL };
static const char *const *const s3_fails[] = { s3_bad, NULL };

static const struct db_step steps_good[] = {
	{ .what = "one", .sql = s1, .fn = fn1 },
	{ .what = "two", .sql = s2, .fn = fn2 },
	{ .what = "three", .sql = s3, .fn = fn3 },
};
static const struct db_step steps_bad_sql[] = {
	{ .what = "one", .sql = s1, .fn = fn1 },
	{ .what = "two", .sql = s2, .fn = fn2 },
	{ .what = "three", .sql = s3_fails, .fn = fn3 },
};

/* The version in meta('schema') of the database at path, read with plain SQLite. */
static int version_at(const char *path)
{
	sqlite3 *sql;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &sql, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(sql, "SELECT value FROM meta WHERE key = 'schema'", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close_v2(sql);
	return v;
}

static bool has_table(struct db *db, const char *name)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
	bool found;

	assert_non_null(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	db_reset(st);
	return found;
}

static void test_steps_in_order(void **state)
{
	struct db_schema two = { steps_good, 2 }, three = { steps_good, 3 };
	char path[128], err[256] = "";
	struct db *db = NULL;

	memset(fn_runs, 0, sizeof(fn_runs));
	fail_fn_at = 0;
	snprintf(path, sizeof(path), "%s/s.db", dir);
	assert_int_equal(db_open(path, false, &two, &db, err, sizeof(err)), 0);
	assert_true(has_table(db, "s1") && has_table(db, "s1b") && has_table(db, "s2"));
	assert_false(has_table(db, "s3"));
	db_close(db);
	assert_int_equal(version_at(path), 2);
	assert_int_equal(fn_runs[1], 1);
	assert_int_equal(fn_runs[2], 1);
	/* Reopening runs nothing; a longer list runs only the new step. */
	assert_int_equal(db_open(path, false, &two, &db, err, sizeof(err)), 0);
	db_close(db);
	assert_int_equal(fn_runs[1], 1);
	assert_int_equal(fn_runs[2], 1);
	assert_int_equal(db_open(path, false, &three, &db, err, sizeof(err)), 0);
	assert_true(has_table(db, "s3"));
	db_close(db);
	assert_int_equal(version_at(path), 3);
	assert_int_equal(fn_runs[1] + fn_runs[2] + fn_runs[3], 3);
	/* Read-only: only the exact version opens. */
	assert_int_equal(db_open_read_only(path, &three, &db, err, sizeof(err)), 0);
	assert_int_equal(db_write_begin(db), -EROFS);
	db_close(db);
	assert_int_equal(db_open_read_only(path, &two, &db, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer"));
}

static void test_step_fails(void **state)
{
	struct db_schema bad_sql = { steps_bad_sql, 3 }, good = { steps_good, 3 };
	char path[128], err[256] = "";
	struct db *db = NULL;

	memset(fn_runs, 0, sizeof(fn_runs));
	fail_fn_at = 0;
	snprintf(path, sizeof(path), "%s/f.db", dir);
	/* Step 3's second statement fails: steps 1 and 2 stay, step 3 left nothing. */
	assert_int_equal(db_open(path, false, &bad_sql, &db, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "from version 2 to 3 (three)"));
	assert_non_null(strstr(err, "nosuch"));
	assert_non_null(strstr(err, "stays at version 2"));
	assert_int_equal(version_at(path), 2);
	assert_int_equal(fn_runs[3], 0);
	assert_int_equal(db_open_read_only(path, &good, &db, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "older"));
	/* Step 3's C part fails after its SQL ran: rolled back too. */
	fail_fn_at = 3;
	assert_int_equal(db_open(path, false, &good, &db, err, sizeof(err)), -ENOSPC);
	assert_int_equal(fn_runs[3], 1);
	assert_int_equal(version_at(path), 2);
	fail_fn_at = 0;
	assert_int_equal(db_open(path, false, &good, &db, err, sizeof(err)), 0);
	assert_true(has_table(db, "s3"));
	db_close(db);
	assert_int_equal(version_at(path), 3);
	assert_int_equal(fn_runs[1], 1);
	assert_int_equal(fn_runs[2], 1);
	assert_int_equal(fn_runs[3], 2);
}

static void test_newer_refused(void **state)
{
	struct db_schema two = { steps_good, 2 }, three = { steps_good, 3 };
	char path[128], err[256] = "";
	struct db *db = NULL;

	memset(fn_runs, 0, sizeof(fn_runs));
	fail_fn_at = 0;
	snprintf(path, sizeof(path), "%s/n.db", dir);
	assert_int_equal(db_open(path, false, &three, &db, err, sizeof(err)), 0);
	db_close(db);
	assert_int_equal(db_open(path, false, &two, &db, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 3 is newer than this charmfs supports (2)"));
	assert_int_equal(version_at(path), 3);
	assert_int_equal(fn_runs[1] + fn_runs[2] + fn_runs[3], 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_bounded_under_steady_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_in_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steps_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
