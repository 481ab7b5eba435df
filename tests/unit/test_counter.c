/*
 * Unit tests for backend/counter.c and counterfmt.c on a real store in a
 * temporary directory: the original store's documented examples (listing
 * order, prefix sums that exclude the key itself, read-only sums), day and
 * week buckets with fixed timestamps, start/stop filters, the three output
 * formats byte for byte, key directories (mkkey/rmkey/children), token
 * validation, overflow, exact counts under concurrent writers, and the
 * query-line and HTTP parameter parsers with the original messages.
 * With COUNTER_BENCH=1 it also times the benchmark queries (1,000,000
 * increments over 10,000 keys and 365 days).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "counter.h"
#include "db.h"
#include "store.h"
#include "store_int.h"
#include "banned.h"

struct fixture {
	char dir[64];
	struct store *s;
	struct db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_counter.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	store_opts_default(&o);
	assert_int_equal(store_open(f->dir, &o, &f->s, err, sizeof(err)), 0);
	f->db = store_db(f->s);
	/* Idempotent; keeps the test independent of store.c listing counter_schema. */
	for (size_t i = 0; counter_schema[i]; i++)
		assert_int_equal(db_exec(f->db, counter_schema[i]), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	(void)rm_rf(f->dir);
	free(f);
	return 0;
}

/* Splits "a:b:c" into a static token array (test keys only). */
static size_t toks(const char *key, const char **out, char *storage, size_t storage_len)
{
	size_t n = 0;
	char *p;

	snprintf(storage, storage_len, "%s", key);
	if (!storage[0])
		return 0;
	for (p = storage;;) {
		char *c = strchr(p, ':');
		out[n++] = p;
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	return n;
}

static int64_t date(const char *s)
{
	int64_t t;

	assert_int_equal(counter_parse_date(s, &t), 0);
	return t;
}

static void inc_at(struct db *db, const char *key, uint64_t count, int64_t when)
{
	const char *t[COUNTER_MAX_DEPTH + 1];
	char st[512];
	size_t n = toks(key, t, st, sizeof(st));

	assert_int_equal(counter_inc(db, t, n, count, when), 0);
}

static void inc(struct db *db, const char *key, uint64_t count)
{
	inc_at(db, key, count, date("2013-03-01") + 3600);
}

/*
 * Runs a query written as a counter.query line against key and returns the
 * formatted answer (caller frees).
 */
static char *ask(struct db *db, const char *key, const char *line)
{
	const char *t[COUNTER_MAX_DEPTH + 1];
	char st[512], err[256];
	struct counter_req req;
	struct counter_result res = { 0 };
	enum counter_fmt fmt;
	struct buf b;

	assert_int_equal(counter_parse_query(line, strlen(line), &req, &fmt, err, sizeof(err)), 0);
	req.n = toks(key, t, st, sizeof(st));
	req.tokens = t;
	assert_int_equal(counter_query(db, &req, &res), 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(counter_format(&res, fmt, &b), 0);
	counter_result_free(&res);
	if (!b.data)
		assert_int_equal(buf_add(&b, "", 0), 0);
	return buf_steal(&b, NULL);
}

#define ASK(db, key, line, want)                                                                   \
	do {                                                                                       \
		char *got_ = ask(db, key, line);                                                   \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static int64_t sql_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prep(db, sql);
	int64_t v;

	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	db_reset(st);
	return v;
}

/* ---- the original's examples ------------------------------------------------- */

static void test_docs_example(void **state)
{
	struct fixture *f = *state;

	inc(f->db, "a:b", 1);
	inc(f->db, "a:c", 3);
	inc(f->db, "a:c:d", 5);
	inc(f->db, "a:c:e", 7);
	ASK(f->db, "a:c", "exact", "3\n");
	ASK(f->db, "a", "prefix", "16\n");
	ASK(f->db, "a:c", "prefix", "12\n");
	ASK(f->db, "a", "prefix list", "a:c:*  12\na:c    3\na:b    1\n");
	ASK(f->db, "a", "exact", "0\n");
	ASK(f->db, "", "prefix", "16\n");
	ASK(f->db, "", "prefix list", "a:*  16\n");
	ASK(f->db, "a:c", "exact list", "a:c  3\n");
	ASK(f->db, "a", "exact list", "");
}

static void test_read_only_sum(void **state)
{
	struct fixture *f = *state;
	int64_t tokens;

	inc(f->db, "a:b:c", 10);
	inc(f->db, "a:b", 7);
	inc(f->db, "a:z:b", 3);
	tokens = sql_int(f->db, "SELECT count(*) FROM counter_tokens");
	ASK(f->db, "a:b:c", "", "10\n");
	ASK(f->db, "a:b", "", "7\n");
	ASK(f->db, "a:z:b", "", "3\n");
	ASK(f->db, "a:b:c", "prefix", "0\n");
	ASK(f->db, "a:b", "prefix", "10\n");
	ASK(f->db, "a", "prefix", "20\n");
	ASK(f->db, "b", "prefix", "0\n");
	ASK(f->db, "b:x:y", "prefix list", "");
	ASK(f->db, "nope", "by=day", "0\n");
	ASK(f->db, "nope", "by=day format=json", "[[0]]");
	ASK(f->db, "nope", "list format=json", "[]");
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM counter_tokens"), tokens);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM counter_keys WHERE k LIKE '%'"), 6);
	{
		const char *t[] = { "b" };
		assert_int_equal(counter_exists(f->db, t, 1), -ENOENT);
	}
}

/* ---- time buckets and filters ---------------------------------------------- */

static void test_buckets(void **state)
{
	struct fixture *f = *state;

	inc_at(f->db, "x:a", 1, date("2012-05-01") + 60);
	inc_at(f->db, "x:a", 2, date("2012-05-03") + 86399);
	inc_at(f->db, "x:b:c", 4, date("2012-05-03"));
	inc_at(f->db, "x:b", 8, date("2012-05-06")); /* a Sunday: the next week */
	inc_at(f->db, "x", 16, date("2012-05-01"));

	ASK(f->db, "x:a", "by=day", "2012-05-01  1\n2012-05-03  2\n");
	ASK(f->db, "x:a", "by=week", "2012-05-06  3\n");
	ASK(f->db, "x", "prefix by=week", "2012-05-06  7\n2012-05-13  8\n");
	ASK(f->db, "x", "prefix list by=day",
	    "x:a    2012-05-01  1\n"
	    "x:b:*  2012-05-03  4\n"
	    "x:a    2012-05-03  2\n"
	    "x:b    2012-05-06  8\n");
	ASK(f->db, "x", "prefix list by=week",
	    "x:b:*  2012-05-06  4\n"
	    "x:a    2012-05-06  3\n"
	    "x:b    2012-05-13  8\n");
	ASK(f->db, "x", "prefix list by=week format=csv",
	    "x:b:*,2012-05-06,4\nx:a,2012-05-06,3\nx:b,2012-05-13,8\n");
	ASK(f->db, "x", "prefix list by=week format=json",
	    "[[\"x:b:*\",\"2012-05-06\",4],[\"x:a\",\"2012-05-06\",3],"
	    "[\"x:b\",\"2012-05-13\",8]]");
	/* counter.by-day: the key itself and everything under it. */
	{
		const char *t[] = { "x" };
		struct counter_req req = { .tokens = t, .n = 1, .prefix = true, .self = true,
					   .by = COUNTER_BY_DAY };
		struct counter_result res = { 0 };
		struct buf b;
		buf_init(&b, 4096);
		assert_int_equal(counter_query(f->db, &req, &res), 0);
		assert_int_equal(counter_format(&res, COUNTER_FMT_TEXT, &b), 0);
		assert_string_equal(b.data, "2012-05-01  17\n2012-05-03  6\n2012-05-06  8\n");
		counter_result_free(&res);
		buf_free(&b);
		req.by = COUNTER_BY_ALL;
		assert_int_equal(counter_query(f->db, &req, &res), 0);
		assert_int_equal(res.n, 1);
		assert_int_equal(res.rows[0].count, 31);
		counter_result_free(&res);
		req.list = true;
		assert_int_equal(counter_query(f->db, &req, &res), -EINVAL);
	}
}

static void test_filters(void **state)
{
	struct fixture *f = *state;

	inc_at(f->db, "y:a", 1, date("2012-05-01"));
	inc_at(f->db, "y:a", 2, date("2012-05-02") + 86399);
	inc_at(f->db, "y:a", 4, date("2012-05-03"));
	inc_at(f->db, "y:b:c", 8, date("2012-05-09"));

	ASK(f->db, "y:a", "start=2012-05-02", "6\n");
	ASK(f->db, "y:a", "stop=2012-05-02", "3\n");
	ASK(f->db, "y:a", "start=2012-05-02 stop=2012-05-02", "2\n");
	ASK(f->db, "y:a", "start=2012-05-04", "0\n");
	ASK(f->db, "y", "prefix start=2012-05-02", "14\n");
	ASK(f->db, "y", "prefix list stop=2012-05-08", "y:a  7\n");
	ASK(f->db, "y", "prefix list start=2012-05-02", "y:b:*  8\ny:a    6\n");
	/* A filtered week keeps only the days in range. */
	ASK(f->db, "y:a", "by=week start=2012-05-02", "2012-05-06  6\n");
	ASK(f->db, "y", "prefix list by=week start=2012-05-03",
	    "y:a    2012-05-06  4\ny:b:*  2012-05-13  8\n");
	ASK(f->db, "y", "prefix by=day start=2012-05-02 stop=2012-05-03",
	    "2012-05-02  2\n2012-05-03  4\n");
}

/* ---- formats ------------------------------------------------------------------- */

static void test_formats(void **state)
{
	struct fixture *f = *state;

	inc(f->db, "a:b", 1);
	inc(f->db, "a:b:c", 4);
	inc(f->db, "a:f:g", 2);
	ASK(f->db, "a", "prefix list", "a:b:*  4\na:f:*  2\na:b    1\n");
	ASK(f->db, "a", "prefix list format=text", "a:b:*  4\na:f:*  2\na:b    1\n");
	ASK(f->db, "a", "prefix list format=csv", "a:b:*,4\na:f:*,2\na:b,1\n");
	ASK(f->db, "a", "prefix list format=json", "[[\"a:b:*\",4],[\"a:f:*\",2],[\"a:b\",1]]");
	ASK(f->db, "a", "prefix format=text", "7\n");
	ASK(f->db, "a", "prefix format=csv", "7\n");
	ASK(f->db, "a", "prefix format=json", "[[7]]");
	ASK(f->db, "a:b", "by=day", "2013-03-01  1\n");
	ASK(f->db, "a:b", "by=day format=csv", "2013-03-01,1\n");
	ASK(f->db, "a:b", "by=day format=json", "[[\"2013-03-01\",1]]");
	ASK(f->db, "zz", "list", "");
	ASK(f->db, "zz", "list format=csv", "");

	/* The HTTP default is the bare number. */
	{
		struct counter_result res = { 0 };
		struct counter_req req = { .n = 0, .prefix = true };
		struct buf b;
		buf_init(&b, 64);
		assert_int_equal(counter_query(f->db, &req, &res), 0);
		assert_int_equal(counter_fmt_resolve(&req, COUNTER_FMT_AUTO, false),
				 COUNTER_FMT_NUMBER);
		assert_int_equal(counter_format(&res, COUNTER_FMT_NUMBER, &b), 0);
		assert_string_equal(b.data, "7");
		assert_int_equal(counter_format(&res, COUNTER_FMT_AUTO, &b), -EINVAL);
		counter_result_free(&res);
		buf_free(&b);
		req.by = COUNTER_BY_WEEK;
		assert_int_equal(counter_fmt_resolve(&req, COUNTER_FMT_AUTO, false),
				 COUNTER_FMT_TEXT);
	}
}

static void test_token_order(void **state)
{
	struct fixture *f = *state;

	/* Equal counts: token-wise order ("a" < "a-b", so a:b < a-b), shorter first. */
	inc(f->db, "k:a-b", 2);
	inc(f->db, "k:a", 2);
	inc(f->db, "k:a:b", 2);
	inc(f->db, "k:!", 2);
	ASK(f->db, "k", "prefix list", "k:!    2\nk:a    2\nk:a:*  2\nk:a-b  2\n");
}

/* ---- key directories and validation ------------------------------------------- */

static int collect(void *ud, const char *token)
{
	struct buf *b = ud;

	return buf_addf(b, "%s,", token);
}

static void test_keys(void **state)
{
	struct fixture *f = *state;
	const char *ab[] = { "a", "b" }, *a[] = { "a" }, *ax[] = { "a", "x" };
	struct buf b;

	assert_int_equal(counter_exists(f->db, NULL, 0), 0);
	assert_int_equal(counter_mkkey(f->db, ab, 2), 0);
	assert_int_equal(counter_mkkey(f->db, ab, 2), -EEXIST);
	assert_int_equal(counter_mkkey(f->db, a, 1), -EEXIST);
	assert_int_equal(counter_mkkey(f->db, NULL, 0), -EEXIST);
	assert_int_equal(counter_exists(f->db, a, 1), 0);
	assert_int_equal(counter_exists(f->db, ab, 2), 0);
	ASK(f->db, "a:b", "", "0\n");
	ASK(f->db, "a", "prefix list", "");

	assert_int_equal(counter_mkkey(f->db, ax, 2), 0);
	buf_init(&b, 256);
	assert_int_equal(counter_children(f->db, a, 1, collect, &b), 0);
	assert_string_equal(b.data, "b,x,");
	b.len = 0;
	assert_int_equal(counter_children(f->db, NULL, 0, collect, &b), 0);
	assert_string_equal(b.data, "a,");
	assert_int_equal(counter_children(f->db, ab, 2, collect, &b), 0);
	assert_string_equal(b.data, "a,");
	buf_free(&b);
	assert_int_equal(counter_children(f->db, (const char *[]){ "q" }, 1, collect, &b),
			 -ENOENT);

	assert_int_equal(counter_rmkey(f->db, a, 1), -ENOTEMPTY);
	assert_int_equal(counter_rmkey(f->db, ax, 2), 0);
	assert_int_equal(counter_rmkey(f->db, ax, 2), -ENOENT);
	assert_int_equal(counter_inc(f->db, ab, 2, 1, 1400000000), 0);
	assert_int_equal(counter_rmkey(f->db, ab, 2), -ENOTEMPTY);
	assert_int_equal(counter_rmkey(f->db, a, 1), -ENOTEMPTY);
	assert_int_equal(counter_rmkey(f->db, NULL, 0), -EBUSY);
	assert_int_equal(counter_rmkey(f->db, (const char *[]){ "q" }, 1), -ENOENT);
}

static void test_validation(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "", "a/b", "a:b", "*", "counter.value", "counter.",
					   "a\nb", "tab\there", "\xff", "caf\xc3", "\xc0\xaf" };
	char longtok[COUNTER_MAX_TOKEN + 2];
	const char *deep[COUNTER_MAX_DEPTH + 1];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *t[] = { "ok", bad[i] };
		assert_int_equal(counter_token_valid(bad[i]), -EINVAL);
		assert_int_equal(counter_inc(f->db, t, 2, 1, 1400000000), -EINVAL);
		assert_int_equal(counter_mkkey(f->db, t, 2), -EINVAL);
		assert_int_equal(counter_exists(f->db, t, 2), -ENOENT);
	}
	assert_int_equal(counter_token_valid("counter"), 0);
	assert_int_equal(counter_token_valid("*a"), 0);
	assert_int_equal(counter_token_valid("counterx.y"), 0);
	memset(longtok, 'x', sizeof(longtok) - 1);
	longtok[COUNTER_MAX_TOKEN] = '\0';
	assert_int_equal(counter_token_valid(longtok), 0);
	longtok[COUNTER_MAX_TOKEN] = 'x';
	longtok[COUNTER_MAX_TOKEN + 1] = '\0';
	assert_int_equal(counter_token_valid(longtok), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(deep); i++)
		deep[i] = "d";
	assert_int_equal(counter_inc(f->db, deep, COUNTER_MAX_DEPTH, 1, 1400000000), 0);
	assert_int_equal(counter_inc(f->db, deep, COUNTER_MAX_DEPTH + 1, 1, 1400000000), -EINVAL);
	assert_int_equal(counter_inc(f->db, deep, 0, 1, 1400000000), -EINVAL);
	assert_int_equal(counter_inc(f->db, deep, 1, 0, 1400000000), -EINVAL);
	assert_int_equal(counter_inc(f->db, deep, 1, (uint64_t)INT64_MAX + 1, 1400000000), -EINVAL);
	assert_int_equal(counter_inc(f->db, deep, 1, 1, -1), -EINVAL);
	/* Nothing of the refused increments was stored. */
	assert_int_equal(sql_int(f->db, "SELECT sub FROM counter_keys WHERE k = ''"), 1);
}

static void test_overflow(void **state)
{
	struct fixture *f = *state;
	const char *a[] = { "a" }, *b[] = { "b" };

	assert_int_equal(counter_inc(f->db, a, 1, INT64_MAX - 1, 1400000000), 0);
	assert_int_equal(counter_inc(f->db, b, 1, 2, 1400000000), -EOVERFLOW);
	assert_int_equal(counter_inc(f->db, b, 1, 1, 1400000000), 0);
	assert_int_equal(counter_exists(f->db, b, 1), 0);
	ASK(f->db, "", "prefix", "9223372036854775807\n");
}

/* ---- concurrency --------------------------------------------------------------- */

struct worker {
	struct db *db;
	int r;
};

static void *work(void *p)
{
	struct worker *w = p;
	const char *t[] = { "con", "cur" };

	for (int i = 0; i < 1000 && w->r == 0; i++)
		w->r = counter_inc(w->db, t, 2, 1, 1400000000 + i * 60);
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		w[i].db = f->db;
		w[i].r = 0;
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].r, 0);
	}
	ASK(f->db, "con:cur", "", "4000\n");
	ASK(f->db, "con", "prefix", "4000\n");
	ASK(f->db, "", "prefix", "4000\n");
	assert_int_equal(sql_int(f->db, "SELECT sum(count) FROM counter_raw"), 4000);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM counter_tokens"), 2);
}

/* ---- parsers ---------------------------------------------------------------------- */

struct query_case {
	const char *line;
	int r;
	bool prefix, list;
	enum counter_by by;
	const char *start, *stop;
	enum counter_fmt fmt;
	const char *err;
};

static const struct query_case query_cases[] = {
	{ "", 0, false, false, COUNTER_BY_ALL, NULL, NULL, COUNTER_FMT_NUMBER_NL, NULL },
	{ "\n", 0, false, false, COUNTER_BY_ALL, NULL, NULL, COUNTER_FMT_NUMBER_NL, NULL },
	{ "prefix list\n", 0, true, true, COUNTER_BY_ALL, NULL, NULL, COUNTER_FMT_TEXT, NULL },
	{ "  exact  by=week ", 0, false, false, COUNTER_BY_WEEK, NULL, NULL, COUNTER_FMT_TEXT,
	  NULL },
	{ "prefix exact", 0, false, false, COUNTER_BY_ALL, NULL, NULL, COUNTER_FMT_NUMBER_NL,
	  NULL },
	{ "prefix format=json start=2013-01-02 stop=2013-02-28", 0, true, false, COUNTER_BY_ALL,
	  "2013-01-02", "2013-02-28", COUNTER_FMT_JSON, NULL },
	{ "format=csv by=day", 0, false, false, COUNTER_BY_DAY, NULL, NULL, COUNTER_FMT_CSV,
	  NULL },
	{ "by=month", -EINVAL, 0, 0, 0, NULL, NULL, 0, "Invalid 'by' value: \"month\"" },
	{ "by=", -EINVAL, 0, 0, 0, NULL, NULL, 0, "Invalid 'by' value: \"\"" },
	{ "start=2013-02-30", -EINVAL, 0, 0, 0, NULL, NULL, 0,
	  "Invalid 'start' value: \"2013-02-30\"" },
	{ "stop=2013-1-01", -EINVAL, 0, 0, 0, NULL, NULL, 0,
	  "Invalid 'stop' value: \"2013-1-01\"" },
	{ "format=xml", -EINVAL, 0, 0, 0, NULL, NULL, 0, "Invalid 'format' value: \"xml\"" },
	{ "start=2013-02-02 stop=2013-02-01", -EINVAL, 0, 0, 0, NULL, NULL, 0,
	  "stop is before start" },
	{ "lists", -EINVAL, 0, 0, 0, NULL, NULL, 0, NULL },
	{ "list\nlist", -EINVAL, 0, 0, 0, NULL, NULL, 0, NULL },
};

static void test_parse_query(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(query_cases); i++) {
		const struct query_case *c = &query_cases[i];
		struct counter_req req;
		enum counter_fmt fmt;
		char err[256] = "";
		int r = counter_parse_query(c->line, strlen(c->line), &req, &fmt, err, sizeof(err));

		assert_int_equal(r, c->r);
		if (r < 0) {
			if (c->err)
				assert_string_equal(err, c->err);
			else
				assert_true(err[0]);
			continue;
		}
		assert_int_equal(req.prefix, c->prefix);
		assert_int_equal(req.list, c->list);
		assert_int_equal(req.by, c->by);
		assert_int_equal(req.start, c->start ? date(c->start) : 0);
		assert_int_equal(req.stop, c->stop ? date(c->stop) : 0);
		assert_int_equal(fmt, c->fmt);
		assert_null(req.tokens);
	}
	{
		char big[COUNTER_MAX_QUERY + 2];
		struct counter_req req;
		enum counter_fmt fmt;
		char err[128];
		memset(big, ' ', sizeof(big));
		assert_int_equal(counter_parse_query(big, sizeof(big), &req, &fmt, err, sizeof(err)),
				 -EINVAL);
	}
}

static void test_parse_param(void **state)
{
	struct counter_req req = { .n = 0 };
	enum counter_fmt fmt = COUNTER_FMT_AUTO;
	char err[256];

	(void)state;
	assert_int_equal(counter_parse_param("list", "1", &req, &fmt, err, sizeof(err)), 0);
	assert_true(req.list);
	assert_int_equal(counter_parse_param("list", "true", &req, &fmt, err, sizeof(err)), 0);
	assert_false(req.list);
	assert_int_equal(counter_parse_param("by", "x", &req, &fmt, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Invalid 'by' value: \"x\"");
	assert_int_equal(counter_parse_param("by", "a\"b\\\n\x01", &req, &fmt, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Invalid 'by' value: \"a\\\"b\\\\\\n\\x01\"");
	assert_int_equal(counter_parse_param("by", "", &req, &fmt, err, sizeof(err)), 0);
	assert_int_equal(req.by, COUNTER_BY_ALL);
	assert_int_equal(counter_parse_param("start", "2012-02-29", &req, &fmt, err, sizeof(err)),
			 0);
	assert_int_equal(req.start, 1330473600);
	assert_int_equal(counter_parse_param("start", "2013-02-29", &req, &fmt, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Invalid 'start' value: \"2013-02-29\"");
	assert_int_equal(counter_parse_param("stop", "1970-01-01", &req, &fmt, err, sizeof(err)),
			 0);
	assert_int_not_equal(req.stop, 0);
	assert_int_equal(counter_parse_param("format", "json", &req, &fmt, err, sizeof(err)), 0);
	assert_int_equal(fmt, COUNTER_FMT_JSON);
	assert_int_equal(counter_parse_param("format", "yaml", &req, &fmt, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Invalid 'format' value: \"yaml\"");
	assert_int_equal(counter_parse_param("stats", "0", &req, &fmt, err, sizeof(err)), 0);
}

static void test_split_key(void **state)
{
	const char *t[4];
	size_t n = 0;
	bool prefix = true;
	char k1[] = "a:b", k2[] = "a:b:*", k3[] = "*", k4[] = "", k5[] = "a/b", k6[] = "a:b:c:d:e";

	(void)state;
	assert_int_equal(counter_split_key(k1, t, 4, &n, &prefix), 0);
	assert_int_equal(n, 2);
	assert_false(prefix);
	assert_string_equal(t[1], "b");
	assert_int_equal(counter_split_key(k2, t, 4, &n, &prefix), 0);
	assert_int_equal(n, 2);
	assert_true(prefix);
	assert_int_equal(counter_split_key(k3, t, 4, &n, &prefix), -EPERM);
	assert_int_equal(counter_split_key(k4, t, 4, &n, &prefix), -EPERM);
	assert_int_equal(counter_split_key(k5, t, 4, &n, &prefix), -ENOENT);
	assert_int_equal(counter_split_key(k6, t, 4, &n, &prefix), -E2BIG);
}

/* ---- benchmark (COUNTER_BENCH=1) --------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void bench_query(struct db *db, const char *key, const char *line)
{
	struct timespec t0;
	double best = 1e9;
	char *out = NULL;

	for (int i = 0; i < 5; i++) {
		free(out);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		out = ask(db, key, line);
		if (ms_since(&t0) < best)
			best = ms_since(&t0);
	}
	print_message("bench %-30s %-40s %8.2f ms (%zu bytes)\n", key[0] ? key : "(root)", line,
		      best, strlen(out));
	free(out);
}

static void test_bench(void **state)
{
	struct fixture *f = *state;
	struct timespec t0;
	const char *series[] = { "precise", "trusty", "xenial", "bionic" };
	uint64_t seed = 42;

	if (!getenv("COUNTER_BENCH"))
		skip();
	/* Only to load the data faster; the queries do not need it. */
	assert_int_equal(db_exec(f->db, "PRAGMA cache_size=-262144"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int batch = 0; batch < 100; batch++) {
		assert_int_equal(db_write_begin(f->db), 0);
		for (int i = 0; i < 10000; i++) {
			char name[32];
			const char *t[3];
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			int key = (int)((seed >> 33) % 10000);
			int day = (int)((seed >> 20) % 365);
			snprintf(name, sizeof(name), "charm%04d", key);
			t[0] = "charm-bundle";
			t[1] = series[key % 4];
			t[2] = name;
			assert_int_equal(counter_inc_tx(f->db, t, 3, 1,
							1356998400 + (int64_t)day * 86400 +
								(int64_t)(seed % 86400)),
					 0);
		}
		assert_int_equal(db_write_end(f->db, 0), 0);
	}
	print_message("bench 1,000,000 increments: %.0f ms\n", ms_since(&t0));
	bench_query(f->db, "", "prefix");
	bench_query(f->db, "charm-bundle", "prefix list");
	bench_query(f->db, "charm-bundle:trusty", "prefix list");
	bench_query(f->db, "charm-bundle", "prefix by=day");
	bench_query(f->db, "charm-bundle:trusty", "prefix by=day");
	bench_query(f->db, "charm-bundle:trusty", "prefix by=week");
	bench_query(f->db, "charm-bundle", "prefix start=2013-06-01 stop=2013-06-30");
	bench_query(f->db, "charm-bundle:trusty:charm0001", "by=day");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_docs_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_sum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
		cmocka_unit_test(test_parse_query),
		cmocka_unit_test(test_parse_param),
		cmocka_unit_test(test_split_key),
		cmocka_unit_test_setup_teardown(test_bench, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
