/*
 * Unit tests for the store's schema steps on a real version-1 store
 * (tests/data/stores/v1, made by the daemon before the steps existed; its
 * README says how): a copy opens at the newest version with its revisions,
 * files, events, lock and counter readable through the store, lock and
 * counter APIs; reopening changes nothing; a version-1 store that predates
 * tables gets them; a newer version and a failing step leave the database
 * as it was; --check refuses the old version untouched.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "counter.h"
#include "db.h"
#include "lock.h"
#include "store.h"
#include "store_int.h"
#include "url.h"
#include "util.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif
#define FIXTURE SRCDIR "/tests/data/stores/v1"

static const char *const fixture_blobs[] = {
	"ff012e9ef61cb8e96f1a998a578a4f42515434a8bfc6ef376805b61bcc8f22f8", /* logrotate-0 */
	"cc52e30af73a3acff60cc0a0523b4fdfbd65388c5a23784387fc55141489bd40", /* haproxy-0 */
	"23f76dc3f611bbd16d4c193fec124dff72795f2086fd3ebbfcb4eb8f2a98a232", /* mysql-0 */
	"1eba6b675fc9a8f9f2d44f3992f0504ddd9d3b3510cdd10f92ddc3cf1d23bfcb", /* mysql-1 */
};
#define FIXTURE_LOCK_ID "4e1f6ab62265aabeb57cd49896695db0"
#define FIXTURE_LOCK_SINCE 1796312589

static char dir[64];
static char dbpath[128];

static void copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(read_file(from, 1 << 24, &data, &len), 0);
	f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(data);
}

/* A fresh copy of the fixture in dir. */
static int setup(void **state)
{
	char from[PATH_MAX], to[PATH_MAX];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/charmfs-migrate-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/charmfs.db", dir);
	copy_file(FIXTURE "/charmfs.db", dbpath);
	snprintf(to, sizeof(to), "%s/blobs", dir);
	assert_int_equal(mkdir(to, 0755), 0);
	for (size_t i = 0; i < sizeof(fixture_blobs) / sizeof(fixture_blobs[0]); i++) {
		snprintf(from, sizeof(from), FIXTURE "/blobs/%s.charm", fixture_blobs[i]);
		snprintf(to, sizeof(to), "%s/blobs/%s.charm", dir, fixture_blobs[i]);
		copy_file(from, to);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(rm_rf(dir), 0);
	return 0;
}

static int open_store(const char *d, bool read_only, struct store **ret, char *err, size_t len)
{
	struct store_opts o;

	store_opts_default(&o);
	o.read_only = read_only;
	return store_open(d, &o, ret, err, len);
}

/* Runs sql on the database at path with plain SQLite (outside any store). */
static void sql_at(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* One text value (or "" for no row) of a query on the database at path. */
static char *text_at(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	v = strdup(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
			   ? (const char *)sqlite3_column_text(st, 0)
			   : "");
	assert_non_null(v);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

static int version_at(const char *path)
{
	char *v = text_at(path, "SELECT value FROM meta WHERE key = 'schema'");
	int n = -1;

	assert_int_equal(parse_nonneg_int(v, &n), 0);
	free(v);
	return n;
}

/* Every table and index with its SQL, one line each, by name. */
static const char schema_sql[] = "SELECT group_concat(type || ' ' || name || ': ' || sql, '\n')"
				 " FROM (SELECT * FROM sqlite_master WHERE sql IS NOT NULL"
				 " AND name != 'rev_yaml' ORDER BY name)";

static char *file_bytes(const char *path, size_t *ret_len)
{
	char *data = NULL;

	assert_int_equal(read_file(path, 1 << 24, &data, ret_len), 0);
	return data;
}

static void parse(const char *s, struct url *u)
{
	char err[128];

	assert_int_equal(url_parse(s, u, err, sizeof(err)), 0);
}

static void check_contents(struct store *s)
{
	struct url u;
	struct store_rev rev;
	struct store_file f;
	struct lock_info li;
	struct buf b;
	uint64_t total = 0, size = 0;
	int *revs = NULL;
	size_t n = 0;

	parse("cs:trusty/mysql", &u);
	assert_int_equal(store_list_revisions(s, &u, &revs, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(revs[0], 0);
	assert_int_equal(revs[1], 1);
	free(revs);
	assert_int_equal(store_get_rev(s, &u, 1, &rev), 0);
	assert_string_equal(rev.sha256, fixture_blobs[3]);
	assert_int_equal(rev.size, 5418);
	assert_true(rev.in_db);
	assert_true(rev.has_config);
	assert_int_equal(store_file_get(s, &rev, "hooks/install", &f), 0);
	assert_int_equal(f.kind, STORE_FILE_REG);
	assert_int_equal(f.size, 253);
	buf_init(&b, 1 << 20);
	assert_int_equal(store_file_data(s, &rev, "README.md", &b), 0);
	assert_non_null(memmem(b.data, b.len, "second revision", 15));
	buf_free(&b);
	parse("cs:trusty/logrotate", &u);
	assert_int_equal(store_get_rev(s, &u, 0, &rev), 0);
	assert_string_equal(rev.sha256, fixture_blobs[0]);
	assert_int_equal(store_events_size(s, NULL, &size), 0);
	assert_int_equal(size, 838);

	parse("cs:trusty/haproxy", &u);
	assert_int_equal(lock_get(store_db(s), &u, FIXTURE_LOCK_SINCE + 1, &li), 0);
	assert_string_equal(li.id, FIXTURE_LOCK_ID);
	assert_string_equal(li.command, "mkdir");
	assert_int_equal(li.since, FIXTURE_LOCK_SINCE);

	const char *key[] = { "a" };
	struct counter_req req = { .tokens = key, .n = 1 };
	struct counter_result res;
	assert_int_equal(counter_query(store_db(s), &req, &res), 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.rows[0].count, 3);
	counter_result_free(&res);
	assert_int_equal(counter_total(store_db(s), &total), 0);
	assert_int_equal(total, 3);
}

static void test_upgrade(void **state)
{
	struct strv problems = { 0 }, notes = { 0 };
	struct store *s = NULL;
	char err[256] = "", *before, *after;

	(void)state;
	assert_int_equal(version_at(dbpath), 1);
	assert_int_equal(open_store(dir, false, &s, err, sizeof(err)), 0);
	check_contents(s);
	assert_int_equal(store_check(s, false, &problems, &notes), 0);
	assert_int_equal(problems.n, 0);
	store_close(s);
	assert_int_equal(version_at(dbpath), DB_SCHEMA_VERSION);

	/* Reopening is a no-op for the schema: same version, same tables and indexes. */
	before = text_at(dbpath, schema_sql);
	assert_int_equal(open_store(dir, false, &s, err, sizeof(err)), 0);
	check_contents(s);
	store_close(s);
	after = text_at(dbpath, schema_sql);
	assert_string_equal(before, after);
	assert_int_equal(version_at(dbpath), DB_SCHEMA_VERSION);
	/* Step 4: the packages' tables. */
	for (const char *const *tb = (const char *const[]){ "table packages:", "table pkg_changes:",
			"table pkg_log:", "table pkg_ports:", NULL }; *tb; tb++)
		assert_non_null(strstr(after, *tb));
	/* --check takes the upgraded store. */
	assert_int_equal(open_store(dir, true, &s, err, sizeof(err)), 0);
	check_contents(s);
	store_close(s);
	free(before);
	free(after);
	strv_clear(&problems);
	strv_clear(&notes);
}

/* An upgraded store has exactly the tables and indexes of a new one. */
static void test_same_as_new(void **state)
{
	struct store *s = NULL;
	char err[256] = "", fresh[128], path[160], *want, *got;

	(void)state;
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	assert_int_equal(open_store(fresh, false, &s, err, sizeof(err)), 0);
	store_close(s);
	snprintf(path, sizeof(path), "%s/charmfs.db", fresh);
	want = text_at(path, schema_sql);
	assert_non_null(strstr(want, "table rev_files"));
	assert_non_null(strstr(want, "table lock_urls"));

	/*
	 * A version-1 store as the first charmfs made it, before the lock,
	 * counter and files/ tables (see store.c): step 2 adds them.
	 */
	sql_at(dbpath, "DROP TABLE lock_urls; DROP TABLE locks; DROP TABLE rev_files;"
		       " DROP TABLE counter_keys; DROP TABLE counter_tokens; DROP TABLE counter_raw;"
		       " DROP TABLE counter_day; DROP TABLE counter_week; DROP TABLE counter_pday;"
		       " DROP TABLE counter_pweek; DELETE FROM meta WHERE key = 'counter_log_seq'");
	got = text_at(dbpath, schema_sql);
	assert_null(strstr(got, "rev_files"));
	free(got);
	assert_int_equal(open_store(dir, false, &s, err, sizeof(err)), 0);
	store_close(s);
	got = text_at(dbpath, schema_sql);
	assert_string_equal(got, want);
	assert_int_equal(version_at(dbpath), DB_SCHEMA_VERSION);
	free(got);
	free(want);
}

static void test_newer_refused(void **state)
{
	struct store *s = NULL;
	char err[256] = "", *before, *after;
	size_t n_before, n_after;

	(void)state;
	sql_at(dbpath, "UPDATE meta SET value = '99' WHERE key = 'schema'");
	before = file_bytes(dbpath, &n_before);
	assert_int_equal(open_store(dir, false, &s, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 99 is newer"));
	assert_int_equal(open_store(dir, true, &s, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer"));
	after = file_bytes(dbpath, &n_after);
	assert_int_equal(n_before, n_after);
	assert_memory_equal(before, after, n_before);
	assert_int_equal(version_at(dbpath), 99);
	free(before);
	free(after);
}

/* --check never upgrades: the version-1 store is refused and left as it was. */
static void test_check_refuses_old(void **state)
{
	struct store *s = NULL;
	char err[256] = "", *before, *after;
	size_t n_before, n_after;

	(void)state;
	before = file_bytes(dbpath, &n_before);
	assert_int_equal(open_store(dir, true, &s, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "older"));
	after = file_bytes(dbpath, &n_after);
	assert_int_equal(n_before, n_after);
	assert_memory_equal(before, after, n_before);
	free(before);
	free(after);
	assert_int_equal(version_at(dbpath), 1);
}

static const char *const good_sql[] = { "CREATE TABLE IF NOT EXISTS never(a)", NULL };
static const char *const *const step1[] = { good_sql, NULL };
static const char *const bad_sql[] = { "CREATE TABLE half(a)", "INSERT INTO half VALUES(1)",
				       "UPDATE nosuch SET a = 1", NULL };
static const char *const *const step2[] = { bad_sql, NULL };
static const struct db_step failing_steps[] = {
	{ .what = "step one", .sql = step1 },
	{ .what = "step two", .sql = step2 },
};

/* A step that fails leaves the version before it, and none of its work. */
static void test_failing_step(void **state)
{
	const struct db_schema failing = { failing_steps, 2 };
	struct store *s = NULL;
	struct db *db = NULL;
	char err[256] = "", *t;

	(void)state;
	assert_int_equal(db_open(dbpath, false, &failing, &db, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "from version 1 to 2 (step two)"));
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(version_at(dbpath), 1);
	/* Step 1 did not run again (the store is at 1), and step 2 left nothing. */
	t = text_at(dbpath, "SELECT group_concat(name) FROM sqlite_master"
			    " WHERE name IN ('never', 'half')");
	assert_string_equal(t, "");
	free(t);
	/* The real steps still upgrade it. */
	assert_int_equal(open_store(dir, false, &s, err, sizeof(err)), 0);
	check_contents(s);
	store_close(s);
	assert_int_equal(version_at(dbpath), DB_SCHEMA_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_as_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_step, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
