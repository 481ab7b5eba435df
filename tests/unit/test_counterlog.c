/*
 * Unit tests for the counter log (backend/counterlog.c) on a real store:
 * increments are visible after a flush, bursts fold without changing
 * totals, concurrent writers are exact, and a log left by a crash replays
 * exactly once (records the database already has are skipped, a torn last
 * line is ignored); no increment takes a total past INT64_MAX (refused at
 * once, and a batch keeps what came before a record that cannot apply);
 * a write meant for an existing key fails once the key is removed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "counter.h"
#include "counterlog.h"
#include "db.h"
#include "store.h"
#include "store_int.h"

static char dir[64];

/*
 * fdatasync() as backend/counterlog.c sees it: the test links with
 * -Wl,--wrap=fdatasync, so a test can make the next calls fail with EIO
 * the way a failing disk does. SQLite's own syncs are not affected.
 */
static int fdatasync_failures;
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

int __wrap_fdatasync(int fd)
{
	if (fdatasync_failures > 0) {
		fdatasync_failures--;
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

static struct store *open_store_sync(bool sync_full)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[256];

	store_opts_default(&o);
	o.sync_full = sync_full;
	assert_int_equal(store_open(dir, &o, &s, err, sizeof(err)), 0);
	return s;
}

static struct store *open_store(void)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[256];

	store_opts_default(&o);
	assert_int_equal(store_open(dir, &o, &s, err, sizeof(err)), 0);
	return s;
}

static uint64_t value(struct store *s, const char *a, const char *b)
{
	const char *tok[2] = { a, b };
	struct counter_req req = { .tokens = tok, .n = b ? 2 : 1 };
	struct counter_result res = { 0 };
	uint64_t v;

	assert_int_equal(counter_log_flush(store_counters(s)), 0);
	assert_int_equal(counter_query(store_db(s), &req, &res), 0);
	v = res.n ? res.rows[0].count : 0;
	counter_result_free(&res);
	return v;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/charmfs-clog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rm_rf(dir), 0);
	return 0;
}

static void test_inc_and_fold(void **state)
{
	struct store *s = open_store();
	const char *a[] = { "a", "b" }, *c[] = { "a", "c" };

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(counter_log_inc(store_counters(s), a, 2, 1, 1700000000 + i, 0), 0);
		assert_int_equal(counter_log_inc(store_counters(s), c, 2, 3, 1700000000 + i, 0), 0);
	}
	assert_int_equal(value(s, "a", "b"), 1000);
	assert_int_equal(value(s, "a", "c"), 3000);
	assert_int_equal(counter_log_inc(store_counters(s), a, 0, 1, 0, 0), -EINVAL);
	const char *bad[] = { "counter.x" };
	assert_int_equal(counter_log_inc(store_counters(s), bad, 1, 1, 0, 0), -EINVAL);
	store_close(s);
	s = open_store();
	assert_int_equal(value(s, "a", "b"), 1000);
	store_close(s);
}

static void *writer(void *arg)
{
	struct store *s = arg;
	const char *k[] = { "race" };

	for (int i = 0; i < 2000; i++)
		assert_int_equal(counter_log_inc(store_counters(s), k, 1, 1, 1700000000, 0), 0);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct store *s = open_store();
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(value(s, "race", NULL), 8000);
	store_close(s);
}

static void test_replay(void **state)
{
	struct store *s = open_store();
	const char *k[] = { "r" };
	char path[128];
	FILE *f;

	/* Sequence numbers 1..5 are applied. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(counter_log_inc(store_counters(s), k, 1, 1, 1700000000, 0), 0);
	assert_int_equal(value(s, "r", NULL), 5);
	store_close(s);
	/* A crash between a commit and the truncation, then new records and a torn one. */
	snprintf(path, sizeof(path), "%s/counters.log", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "4 1700000000 1 r\n5 1700000000 1 r\n6 1700000000 10 r\n7 1700000000 100 r\n8 17");
	fclose(f);
	s = open_store();
	assert_int_equal(value(s, "r", NULL), 115);
	store_close(s);
	s = open_store();
	assert_int_equal(value(s, "r", NULL), 115);
	store_close(s);
}

static void test_overflow(void **state)
{
	struct store *s = open_store();
	const char *big[] = { "big" }, *a[] = { "a" }, *b[] = { "b" }, *p[] = { "p" }, *q[] = { "q" };
	struct counter_log *l;

	assert_int_equal(counter_inc(store_db(s), big, 1, INT64_MAX - 10, 1700000000), 0);
	store_close(s);
	s = open_store();
	l = store_counters(s);
	/* One increment is at most 2^32, whatever the totals. */
	assert_int_equal(counter_log_inc(l, a, 1, COUNTER_LOG_MAX_COUNT + 1, 1700000000, 0),
			 -EOVERFLOW);
	assert_int_equal(counter_log_inc(l, a, 1, 5, 1700000000, 0), 0);
	assert_int_equal(counter_log_inc(l, b, 1, 6, 1700000000, 0), -EOVERFLOW);
	assert_int_equal(counter_log_inc(l, a, 1, 5, 1700000000, 0), 0);
	assert_int_equal(counter_log_inc(l, a, 1, 1, 1700000000, 0), -EOVERFLOW);
	assert_int_equal(value(s, "a", NULL), 10);
	assert_int_equal(value(s, "b", NULL), 0);
	assert_int_equal(counter_exists(store_db(s), b, 1), -ENOENT);
	assert_int_equal(value(s, "big", NULL), INT64_MAX - 10);
	store_close(s);

	/* The database changed behind the log: the record that no longer fits is dropped, the earlier kept. */
	assert_int_equal(rm_rf(dir), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	s = open_store();
	l = store_counters(s);
	assert_int_equal(counter_log_inc(l, p, 1, 1, 1700000000, 0), 0);
	assert_int_equal(counter_inc(store_db(s), big, 1, INT64_MAX - 2, 1700000000), 0);
	assert_int_equal(counter_log_inc(l, q, 1, 2, 1700000000, 0), 0);
	assert_int_equal(value(s, "p", NULL), 1);
	assert_int_equal(value(s, "q", NULL), 0);
	assert_int_equal(value(s, "big", NULL), INT64_MAX - 2);
	store_close(s);
}

static void test_existing(void **state)
{
	struct store *s = open_store();
	const char *k[] = { "gone" }, *deep[] = { "x", "y" }, *x[] = { "x" };
	struct counter_log *l = store_counters(s);

	assert_int_equal(counter_log_inc(l, k, 1, 1, 1700000000, COUNTER_LOG_EXISTING), -ENOENT);
	assert_int_equal(counter_mkkey(store_db(s), k, 1), 0);
	assert_int_equal(counter_log_inc(l, k, 1, 1, 1700000000, COUNTER_LOG_EXISTING), 0);
	assert_int_equal(counter_log_rmkey(l, store_db(s), k, 1), -ENOTEMPTY);
	/* A key made by a pending increment below it exists. */
	assert_int_equal(counter_log_inc(l, deep, 2, 1, 1700000000, 0), 0);
	assert_int_equal(counter_log_inc(l, x, 1, 1, 1700000000, COUNTER_LOG_EXISTING), 0);
	assert_int_equal(counter_log_exists(l, store_db(s), deep, 2), 0);
	store_close(s);
	s = open_store();
	l = store_counters(s);
	const char *e[] = { "empty" };
	assert_int_equal(counter_mkkey(store_db(s), e, 1), 0);
	assert_int_equal(counter_log_rmkey(l, store_db(s), e, 1), 0);
	assert_int_equal(counter_log_inc(l, e, 1, 1, 1700000000, COUNTER_LOG_EXISTING), -ENOENT);
	assert_int_equal(counter_log_exists(l, store_db(s), e, 1), -ENOENT);
	assert_int_equal(value(s, "x", NULL), 1);
	store_close(s);
}

/* The log file's text, for looking for a record in it. */
static char *log_text(void)
{
	char path[128];
	static char text[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/counters.log", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/*
 * An increment whose fdatasync fails is reported as failed (EIO) and is
 * not in the log afterwards, so neither a crash nor the next record can
 * bring it back: the daemon is killed (no close, no apply) right after,
 * and the replay at the next open counts only the acknowledged ones.
 */
static void test_sync_failure(void **state)
{
	const char *k[] = { "synced" };
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = open_store_sync(true);
		struct counter_log *l = store_counters(s);
		bool ok = counter_log_inc(l, k, 1, 7, 1700000000, 0) == 0;

		fdatasync_failures = 1;
		ok = ok && counter_log_inc(l, k, 1, 1000, 1700000000, 0) == -EIO;
		ok = ok && fdatasync_failures == 0 && !strstr(log_text(), " 1000 ");
		ok = ok && counter_log_inc(l, k, 1, 5, 1700000000, 0) == 0;
		ok = ok && !strstr(log_text(), " 1000 ");
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	struct store *s = open_store_sync(true);
	assert_int_equal(value(s, "synced", NULL), 12);
	store_close(s);
}

/*
 * counter.inc remembers keys it found, but only until a removal: a key
 * found by an increment that then failed (so it stayed empty) and removed
 * after is gone for the next write.
 */
static void test_existing_remembered(void **state)
{
	struct store *s = open_store_sync(true);
	struct counter_log *l = store_counters(s);
	const char *c[] = { "cached" };

	assert_int_equal(counter_mkkey(store_db(s), c, 1), 0);
	fdatasync_failures = 1;
	assert_int_equal(counter_log_inc(l, c, 1, 1, 1700000000, COUNTER_LOG_EXISTING), -EIO);
	assert_int_equal(counter_log_rmkey(l, store_db(s), c, 1), 0);
	assert_int_equal(counter_log_inc(l, c, 1, 1, 1700000000, COUNTER_LOG_EXISTING), -ENOENT);
	assert_int_equal(counter_mkkey(store_db(s), c, 1), 0);
	assert_int_equal(counter_log_inc(l, c, 1, 2, 1700000000, COUNTER_LOG_EXISTING), 0);
	assert_int_equal(counter_log_inc(l, c, 1, 3, 1700000000, COUNTER_LOG_EXISTING), 0);
	assert_int_equal(value(s, "cached", NULL), 5);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inc_and_fold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_remembered, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
