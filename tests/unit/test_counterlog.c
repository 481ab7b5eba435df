/*
 * Unit tests for the counter log (backend/counterlog.c) on a real store:
 * increments are visible after a flush, bursts fold without changing
 * totals, concurrent writers are exact, and a log left by a crash replays
 * exactly once (records the database already has are skipped, a torn last
 * line is ignored).
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
#include <unistd.h>

#include <cmocka.h>

#include "counter.h"
#include "counterlog.h"
#include "store.h"

static char dir[64];

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
		assert_int_equal(counter_log_inc(store_counters(s), a, 2, 1, 1700000000 + i), 0);
		assert_int_equal(counter_log_inc(store_counters(s), c, 2, 3, 1700000000 + i), 0);
	}
	assert_int_equal(value(s, "a", "b"), 1000);
	assert_int_equal(value(s, "a", "c"), 3000);
	assert_int_equal(counter_log_inc(store_counters(s), a, 0, 1, 0), -EINVAL);
	const char *bad[] = { "counter.x" };
	assert_int_equal(counter_log_inc(store_counters(s), bad, 1, 1, 0), -EINVAL);
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
		assert_int_equal(counter_log_inc(store_counters(s), k, 1, 1, 1700000000), 0);
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
		assert_int_equal(counter_log_inc(store_counters(s), k, 1, 1, 1700000000), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inc_and_fold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
