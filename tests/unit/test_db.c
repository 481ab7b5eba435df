/*
 * Unit tests for the database layer (backend/db.c) on a real SQLite file:
 * a thread may prepare any number of distinct statements (the cache grows),
 * only a duplicate key maps to EEXIST, SQLite's message of a failed change
 * survives its ROLLBACK, and a read inside a write transaction sees it.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "util.h"

static char dir[64];

static const char *const test_schema[] = {
	"CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER CHECK (v >= 0))",
	NULL,
};
static const char *const *const schemas[] = { test_schema, NULL };

static struct db *open_db(void)
{
	char path[128], err[256];
	struct db *db = NULL;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(db_open(path, false, schemas, &db, err, sizeof(err)), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_in_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
